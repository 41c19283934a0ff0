package flow

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// wantsJSON reports whether the client is a JSON (API/AJAX) client rather
// than a browser, the way Kratos decides it: Content-Type is exactly
// application/json, or Accept negotiates application/json over
// text/html, text/*, */* (so `*/*` alone, or no Accept, is a browser).
func wantsJSON(r *http.Request) bool {
	if r.Header.Get("Content-Type") == "application/json" {
		return true
	}
	return negotiatesJSON(r.Header.Values("Accept"))
}

// explicitlyWantsHTML reports whether the client put text/html in its
// Accept header and it wins: a top-level browser navigation.
func explicitlyWantsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(v), "text/html") {
			return !negotiatesJSON(r.Header.Values("Accept"))
		}
	}
	return false
}

// offers are what the server can answer, in order of its own preference.
var offers = [...]string{"text/html", "text/*", "*/*", "application/json"}

// negotiatesJSON runs proactive negotiation over offers. For each offer, in
// order, every Accept range is considered; a range replaces the current
// best when its q is higher, or equal but more specific. Ties keep the
// earlier offer, which is why a bare `*/*` picks text/html.
func negotiatesJSON(accept []string) bool {
	best, bestQ, bestSpecificity := "", -1.0, 3 // 0 exact, 1 type/*, 2 */*
	for _, offer := range offers {
		for _, header := range accept {
			for _, part := range strings.Split(header, ",") {
				value, q := parseMediaRange(part)
				if value == "" || q <= 0 || q < bestQ {
					continue
				}
				var specificity int
				switch {
				case value == "*/*":
					specificity = 2
				case strings.HasSuffix(value, "/*"):
					if !strings.HasPrefix(offer, value[:len(value)-1]) {
						continue
					}
					specificity = 1
				case value == offer:
					specificity = 0
				default:
					continue
				}
				if q > bestQ || bestSpecificity > specificity {
					best, bestQ, bestSpecificity = offer, q, specificity
				}
			}
		}
	}
	return best == "application/json"
}

// parseMediaRange returns the lowercased media range and its q value.
func parseMediaRange(s string) (string, float64) {
	mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(s))
	if err != nil {
		// mime rejects `*/*` with bare params in some forms; fall back to
		// the part before the first ';'.
		mediaType, _, _ = strings.Cut(strings.TrimSpace(s), ";")
		mediaType = strings.ToLower(strings.TrimSpace(mediaType))
		params = nil
	}
	q := 1.0
	if v, ok := params["q"]; ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return "", 0
		}
		q = f
	}
	return mediaType, q
}
