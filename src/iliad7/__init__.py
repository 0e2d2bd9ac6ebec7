"""iliad7: runs the ILIAD-7-US-O trial (NCT04426201) end to end, with the protocol as code."""

__version__ = "0.1.0"
