"""The resident flows, one module each. Every step takes a Turn and a state and returns a Step."""
