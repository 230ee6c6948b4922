"""Federation between regions (跨省通办): configuration, forwarding, the federation service."""
