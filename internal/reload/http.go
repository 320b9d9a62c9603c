package reload

import (
	"encoding/json"
	"net/http"
)

// Path is where Handler is served.
const Path = "/-/reload"

// Handler answers POST /-/reload: 200 with the Result when the new
// configuration is in force, 500 with {"error": "..."} when it was refused
// and the running one stays (as Prometheus and Alertmanager answer), 405
// for any other method. It does no authorization of its own: cmd/herald
// mounts it with server.MountAdmin (API token of role manager).
func (r *Reloader) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed; use POST"})
			return
		}
		res, err := r.Reload(TriggerHTTP)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Status string `json:"status"`
			Result
		}{"reloaded", res})
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
