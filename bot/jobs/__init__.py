"""Background work run by the scheduler: filing the outbox, reading the case system's feeds,
sending notifications. Every job claims rows (or a lease) in the database, so any number of
bot processes can run them at once."""
