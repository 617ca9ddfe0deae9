"""Resuming a crawl from the journal it keeps in JOBDIR, even after `kill -9` or a power cut.

Scrapy's own JOBDIR state does not survive `kill -9`: a request taken from the disk queue
but not finished is lost, queue metadata is written only on a clean close, and a half
written item breaks a line of the export. So hubspider keeps requests in memory and
writes, to `JOBDIR/hubspider-journal.jsonl`, one line per page once its records are in
every feed and the store: the page, and the pages that come after it. On resume, the pages
that come after finished pages but were not finished themselves are asked for again; feed
files of earlier runs lose a broken last line, and their records are not exported twice.

- `entries`: the journal file and its lines, as the planning's objects.
- `replay`: the crawl's state rebuilt from the pages done.
- `repair`: the feed files of earlier runs, cut to whole lines, and the records they hold.
- `check`: what the crawl command refuses before a run that would mix two crawls.

The extension that writes the journal during a crawl is hubspider/extensions/journal.py.
"""
