"""Channel adapters: turn a platform's payload into an Inbound, render the engine's Outbounds back."""
