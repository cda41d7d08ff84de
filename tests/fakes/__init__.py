"""Fakes of systems outside this machine, speaking their real protocols on loopback."""
