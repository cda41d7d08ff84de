"""Natural-language understanding: normalisation, urgent-risk rules, and the client of the Rasa server.

The Rasa project itself (config.yml, data/, jieba_dict/) lives beside this package and runs in
its own Python 3.10 environment as a separate server.
"""
