"""Cases: the centre's steps, and what the bot keeps of each case it filed."""
