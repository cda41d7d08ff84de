"""The FAQs volunteers keep, in the database: versions, publishing, the live index residents
are answered from, the unanswered queue, YAML import/export. The FAQ domain itself (entries,
retrieval, checks) is ``bot.faq`` and knows no database."""
