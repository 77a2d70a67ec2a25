"""The contract: what a body means, shared by the server and the sync client.

Nothing here imports SQLAlchemy, FastAPI or the database: ``import tilsyn.client`` loads this
package and no server code (tests/test_layers.py checks it).
"""
