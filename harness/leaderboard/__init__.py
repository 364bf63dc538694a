"""Published leaderboards: verified records in, ranked boards (csv, Markdown, HTML, JSON) out.

verify       what a record must satisfy to enter a board (schema, suite config hash, loss sha256)
board        a board directory's records, aggregated into entries and ranked with uncertainty
publish      adds a record to a board under a lock, with all-or-nothing file updates
submit       the two ways in: benchmark a loss file, or verify a record made elsewhere
rows         how numbers are printed; render_{csv,md,json,html,svg} turn a board into files
"""
