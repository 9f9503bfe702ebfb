"""Tools the model may call: a registry of JSON-schema-described callables."""
