"""The list bot: read a mailing-list archive as it grows, group patches into series, check each
series once, reply once.

``settings`` reads the configuration file; ``archive`` reads messages (public-inbox git
epochs, a Maildir, an mbox stream) from where the last run stopped; ``series`` tells patches
from replies and groups them the way b4 does; ``state`` keeps everything in SQLite; ``check``
analyses one series (the only place that knows how); ``reply`` renders the review mail and the
patchwork check record; ``deliver`` sends mail through SMTP or writes ``.eml`` files;
``runner`` ties one run (or a polling loop) together; ``status`` summarises a state.
"""
