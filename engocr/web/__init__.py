"""`engocr serve`: a small local web page over the video library (issue #28).

`db` opens the library read-only, `results` turns a search into a page of cards with counts
and timelines per file, `media` serves only the files the library indexed (whole, by byte
range, or one frame with the word's box drawn), `ranges` parses HTTP Range headers, `server`
routes requests (standard library `http.server`, one thread a request) and `cli` holds the
command. The page itself (`static/`) is plain HTML, CSS and JavaScript: no build step."""
