"""One module per screen; each reads and writes only through ``companion.core``."""
