"""Provider adapters: one file per upstream family, registered in ``registry.PROVIDER_KINDS``."""
