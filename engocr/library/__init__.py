"""A searchable library of what engocr read in a folder of videos and images (issue #27):
`scan` finds the files, `indexer` reads one file, `store` keeps the rows in SQLite (FTS5),
`search` queries them, `cli` holds the `engocr index` and `engocr search` commands."""
