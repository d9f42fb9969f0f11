// Who the key is (tenant, scopes), asked once per key: the UI shows only the actions it allows.
import { api, key } from "./api.js";

let known = null, forKey = null;

export const me = {
  async load() {
    if (forKey !== key.get()) { known = await api("/api/v1/keys/me"); forKey = key.get(); }
    return known;
  },
  scopes: () => (known ? known.scopes : []),
  tenant: () => (known ? known.tenant : ""),
};
