"""Rasa pipeline components of the mediation bot (they run inside the Rasa server, Python 3.10).

The bot's own package is not importable here: this package depends on Rasa and scikit-learn only.
`bot/nlu/rasa_env.py` puts its folder on the Rasa process's PYTHONPATH.
"""
