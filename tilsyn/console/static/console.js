/* tilsyn console: the map (Leaflet) and small helpers. No inline scripts: the CSP forbids them. */
(function () {
  "use strict";

  function drawMap(element) {
    var map = L.map(element, { attributionControl: false, preferCanvas: true, zoomControl: false });
    L.control.zoom({
      zoomInTitle: element.getAttribute("data-zoom-in") || "Zoom in",
      zoomOutTitle: element.getAttribute("data-zoom-out") || "Zoom out"
    }).addTo(map);
    var tiles = element.getAttribute("data-tiles");
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    }
    map.setView([64.5, 12.0], 4);  /* Norway, until the points are in */
    var status = document.getElementById("map-status");
    fetch(element.getAttribute("data-points"), { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        var bounds = [];
        data.plants.forEach(function (p) {
          var marker = L.circleMarker([p.lat, p.lon], { radius: 5, color: "#ffffff", weight: 1, fillColor: "#0b5394", fillOpacity: 0.9 });
          var link = document.createElement("a");
          link.href = "/console/plant/" + encodeURIComponent(p.id);
          link.textContent = p.id + (p.address ? " – " + p.address : "");
          marker.bindPopup(link).addTo(map);
          bounds.push([p.lat, p.lon]);
        });
        data.netStations.forEach(function (s) {
          var marker = L.circleMarker([s.lat, s.lon], { radius: 8, color: "#ffffff", weight: 2, fillColor: "#b3261e", fillOpacity: 0.95 });
          var label = document.createElement("span");
          label.textContent = s.name;
          marker.bindPopup(label).addTo(map);
          bounds.push([s.lat, s.lon]);
        });
        if (bounds.length) { map.fitBounds(bounds, { padding: [20, 20], maxZoom: 15 }); }
        if (status) {
          status.textContent = (status.getAttribute("data-text") || "{plants} / {stations}")
            .replace("{plants}", String(data.plants.length))
            .replace("{stations}", String(data.netStations.length));
          status.setAttribute("data-plants", String(data.plants.length));
          status.setAttribute("data-stations", String(data.netStations.length));
        }
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var element = document.getElementById("map");
    if (element && window.L) { drawMap(element); }
  });
})();
