"""Published leaderboards: verified records in, ranked boards (csv, Markdown, HTML, JSON) out.

verify   checks that a record is what it claims (schema, suite config hash, loss sha256)
board    loads a board directory's records and ranks them with uncertainty
publish  adds a record to a board under a lock, with all-or-nothing file updates
render_* turn a ranked board into text formats and the self-contained web page
"""
