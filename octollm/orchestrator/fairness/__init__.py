"""Fair sharing between tenants: the fair dispatcher and the per-tenant limits at submit."""
