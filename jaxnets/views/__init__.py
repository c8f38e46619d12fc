"""Looking at a trained language model: text sampled from it (`sample`), and a page that shows
what its cells follow and what it guesses next (`page`, over `cells`)."""
