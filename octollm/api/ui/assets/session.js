// Who the key is (tenant, scopes), asked once per key: the UI shows only the actions it allows.
import { api, key } from "./api.js";

let pending = null, known = null, forKey = null;

export const me = {
  load() {
    if (!pending || forKey !== key.get()) {
      forKey = key.get();
      known = null;
      pending = api("/api/v1/keys/me").then((who) => (known = who));
      pending.catch(() => { pending = null; });
    }
    return pending;
  },
  scopes: () => (known ? known.scopes : []),
  tenant: () => (known ? known.tenant : null),
  // an admin key of an operator tenant: may read any tenant's tasks (?tenant=)
  operator: () => Boolean(known && known.operator),
};
