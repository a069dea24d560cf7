"""skycall's composition root: settings, storage, the event bus, model provisioning, the CLI and
the app factory that wires the product packages together."""

__version__ = "0.1.0"
