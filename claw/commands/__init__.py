"""One module per command group. Commands are thin: parse, call the core, render."""
