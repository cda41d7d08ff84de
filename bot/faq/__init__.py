"""Legal-education FAQs: the entries, their YAML files, and retrieval."""
