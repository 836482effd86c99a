"""The Textual face of companion: thin screens over ``companion.core``."""
