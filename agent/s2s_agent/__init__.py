"""s2s-agent: keeps a site-to-site IPsec tunnel to Azure alive on a dynamic WAN IP."""

__version__ = "0.1.0"
