"""Basic value types every layer uses: ids, names, scopes, canonical JSON, Arrow column
types, asset and partition keys, the clock and page tokens. Imports nothing else of Arco
except :mod:`arco.errors`."""
