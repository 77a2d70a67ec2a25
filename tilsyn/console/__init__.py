"""The DLE console at /console/: server-rendered pages for the people who use the register."""
