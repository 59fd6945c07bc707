"""The Fargate task that turns an NZB into a ready movie in R2 (see ``python -m downloader``)."""
