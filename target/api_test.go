package target

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lunarsan/lunar/iscsi"
)

const apiTestToken = "0123456789abcdef0123456789abcdef"

// apiTestServer returns an API handler over a fresh store.
func apiTestServer(t *testing.T, sessions func() []SessionInfo) (*Store, http.Handler) {
	t.Helper()
	s := storeTestOpen(t, t.TempDir())
	a, err := NewAPIServer(APIConfig{Store: s, Token: apiTestToken, Sessions: sessions, MaxBody: 4096})
	wantNoErr(t, err)
	return s, a.Handler()
}

// apiDo sends one request to h and returns the status and body.
func apiDo(t *testing.T, h http.Handler, method, path, body string, token string) (int, string) {
	t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// wantAPI checks a status and, for errors, the error code.
func wantAPI(t *testing.T, h http.Handler, method, path, body string, status int, code string) string {
	t.Helper()
	got, resp := apiDo(t, h, method, path, body, apiTestToken)
	if got != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, got, status, resp)
	}
	if code != "" {
		var eb APIErrorBody
		if err := json.Unmarshal([]byte(resp), &eb); err != nil {
			t.Fatalf("%s %s: error body %q: %v", method, path, resp, err)
		}
		if eb.Error.Code != code || eb.Error.Message == "" {
			t.Fatalf("%s %s: error %+v, want code %s", method, path, eb.Error, code)
		}
	}
	return resp
}

func TestAPIAuth(t *testing.T) {
	_, h := apiTestServer(t, nil)
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/v1/luns", ""},
		{"GET", "/v1/luns", "wrong"},
		{"GET", "/v1/luns", apiTestToken + "x"},
		{"POST", "/v1/luns", ""},
		{"GET", "/v1/sessions", ""},
		{"GET", "/metrics", ""},
		{"GET", "/nowhere", ""},
	} {
		status, body := apiDo(t, h, tc.method, tc.path, `{"name":"a","size":512}`, tc.token)
		if status != http.StatusUnauthorized || !strings.Contains(body, `"unauthorized"`) {
			t.Errorf("%s %s token %q: %d %s", tc.method, tc.path, tc.token, status, body)
		}
	}
	// Basic auth or a token without the scheme: refused too.
	r := httptest.NewRequest("GET", "/v1/luns", nil)
	r.Header.Set("Authorization", apiTestToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("token without scheme: %d", w.Code)
	}
	// Health needs no token.
	status, body := apiDo(t, h, "GET", "/v1/health", "", "")
	if status != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Fatalf("health: %d %s", status, body)
	}
	if _, err := NewAPIServer(APIConfig{Store: &Store{}, Token: "short"}); err == nil {
		t.Fatal("short token accepted")
	}
}

func TestAPILUNs(t *testing.T) {
	_, h := apiTestServer(t, nil)
	body := wantAPI(t, h, "POST", "/v1/luns", `{"name":"a","size":1048576}`, http.StatusCreated, "")
	var info LUNInfo
	wantNoErr(t, json.Unmarshal([]byte(body), &info))
	if info.Name != "a" || info.Size != 1<<20 || !strings.HasPrefix(info.WWN, "naa.6") {
		t.Fatalf("created %+v", info)
	}
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"a","size":512}`, http.StatusConflict, "lun_exists")
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"../x","size":512}`, http.StatusBadRequest, "invalid_name")
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"b","size":100}`, http.StatusBadRequest, "invalid_size")
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"b","size":512,"maps":[{"igroup":"nope"}]}`, http.StatusNotFound, "igroup_not_found")
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"b","size":4096,"block_size":1000}`, http.StatusBadRequest, "invalid_block_size")
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"b","size":512,"path":"/etc/passwd"}`, http.StatusBadRequest, APICodeBadJSON)
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"b","size":512} {}`, http.StatusBadRequest, APICodeBadJSON)
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"b","size":"big"}`, http.StatusBadRequest, APICodeBadJSON)
	wantAPI(t, h, "POST", "/v1/luns", ``, http.StatusBadRequest, APICodeBadJSON)
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"`+strings.Repeat("x", 5000)+`"}`, http.StatusRequestEntityTooLarge, APICodeBodyTooLarge)

	body = wantAPI(t, h, "GET", "/v1/luns", "", http.StatusOK, "")
	var list []LUNInfo
	wantNoErr(t, json.Unmarshal([]byte(body), &list))
	if len(list) != 1 || list[0].WWN != info.WWN {
		t.Fatalf("list %+v", list)
	}
	wantAPI(t, h, "GET", "/v1/luns/a", "", http.StatusOK, "")
	wantAPI(t, h, "GET", "/v1/luns/zz", "", http.StatusNotFound, "lun_not_found")
	body = wantAPI(t, h, "PATCH", "/v1/luns/a", `{"size":2097152}`, http.StatusOK, "")
	wantNoErr(t, json.Unmarshal([]byte(body), &info))
	if info.Size != 2<<20 {
		t.Fatalf("resized %+v", info)
	}
	wantAPI(t, h, "PATCH", "/v1/luns/a", `{"size":1048576}`, http.StatusConflict, "shrink_refused")
	wantAPI(t, h, "PATCH", "/v1/luns/a", `{"size":1048576,"force":true}`, http.StatusOK, "")
	wantAPI(t, h, "PATCH", "/v1/luns/zz", `{"size":1048576}`, http.StatusNotFound, "lun_not_found")
	wantAPI(t, h, "PUT", "/v1/luns/a", `{}`, http.StatusMethodNotAllowed, APICodeMethodNotAllowed)
	wantAPI(t, h, "DELETE", "/v1/luns/a?force=maybe", "", http.StatusBadRequest, APICodeInvalidParameter)
	wantAPI(t, h, "DELETE", "/v1/luns/a", "", http.StatusNoContent, "")
	wantAPI(t, h, "DELETE", "/v1/luns/a", "", http.StatusNotFound, "lun_not_found")
	wantAPI(t, h, "GET", "/v1/nothing", "", http.StatusNotFound, APICodeNotFound)
}

func TestAPIIGroupsMapsTargetsCHAP(t *testing.T) {
	s, h := apiTestServer(t, nil)
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"a","size":4096}`, http.StatusCreated, "")
	wantAPI(t, h, "POST", "/v1/igroups", `{"name":"g","initiators":["bad"]}`, http.StatusBadRequest, "invalid_initiator")
	wantAPI(t, h, "POST", "/v1/igroups", `{"name":"g","initiators":["`+storeTestInit1+`"]}`, http.StatusCreated, "")
	wantAPI(t, h, "POST", "/v1/igroups", `{"name":"g"}`, http.StatusConflict, "igroup_exists")
	wantAPI(t, h, "GET", "/v1/igroups", "", http.StatusOK, "")
	wantAPI(t, h, "GET", "/v1/igroups/g", "", http.StatusOK, "")
	wantAPI(t, h, "GET", "/v1/igroups/x", "", http.StatusNotFound, "igroup_not_found")
	body := wantAPI(t, h, "POST", "/v1/igroups/g/initiators", `{"initiator":"`+storeTestInit2+`"}`, http.StatusOK, "")
	if !strings.Contains(body, storeTestInit2) {
		t.Fatalf("add: %s", body)
	}
	wantAPI(t, h, "POST", "/v1/igroups/g/initiators", `{"initiator":"`+storeTestInit2+`"}`, http.StatusConflict, "initiator_exists")
	wantAPI(t, h, "DELETE", "/v1/igroups/g/initiators/"+storeTestInit2, "", http.StatusOK, "")
	wantAPI(t, h, "DELETE", "/v1/igroups/g/initiators/"+storeTestInit2, "", http.StatusNotFound, "initiator_not_found")

	body = wantAPI(t, h, "POST", "/v1/maps", `{"lun":"a","igroup":"g","lun_id":4}`, http.StatusCreated, "")
	var m MapInfo
	wantNoErr(t, json.Unmarshal([]byte(body), &m))
	if m.LUNID != 4 || m.Target != storeTestTarget {
		t.Fatalf("map %+v", m)
	}
	wantAPI(t, h, "POST", "/v1/maps", `{"lun":"a","igroup":"g"}`, http.StatusConflict, "lun_already_mapped")
	wantAPI(t, h, "POST", "/v1/maps", `{"lun":"a","igroup":"g","target":"iqn.2026-11.org.lunar:none"}`, http.StatusNotFound, "target_not_found")
	wantAPI(t, h, "GET", "/v1/maps", "", http.StatusOK, "")
	wantAPI(t, h, "DELETE", "/v1/luns/a", "", http.StatusConflict, "lun_mapped")
	wantAPI(t, h, "DELETE", "/v1/igroups/g", "", http.StatusConflict, "igroup_mapped")
	if !s.Access(storeTestTarget, storeTestInit1).Allowed {
		t.Fatal("map through the API not live")
	}
	wantAPI(t, h, "DELETE", "/v1/maps/"+storeTestTarget+"/g/x", "", http.StatusBadRequest, "invalid_lun_id")
	wantAPI(t, h, "DELETE", "/v1/maps/"+storeTestTarget+"/g/5", "", http.StatusNotFound, "map_not_found")
	wantAPI(t, h, "DELETE", "/v1/maps/"+storeTestTarget+"/g/4", "", http.StatusNoContent, "")

	const t2 = "iqn.2026-11.org.lunar:two"
	wantAPI(t, h, "POST", "/v1/targets", `{"name":"nope"}`, http.StatusBadRequest, "invalid_target_name")
	wantAPI(t, h, "POST", "/v1/targets", `{"name":"`+t2+`","alias":"two"}`, http.StatusCreated, "")
	wantAPI(t, h, "POST", "/v1/targets", `{"name":"`+t2+`"}`, http.StatusConflict, "target_exists")
	body = wantAPI(t, h, "GET", "/v1/targets", "", http.StatusOK, "")
	if !strings.Contains(body, t2) || !strings.Contains(body, storeTestTarget) {
		t.Fatalf("targets %s", body)
	}
	wantAPI(t, h, "PUT", "/v1/targets/"+t2+"/chap", `{"name":"t","secret":"short"}`, http.StatusBadRequest, "invalid_chap_secret")
	wantAPI(t, h, "PUT", "/v1/targets/"+t2+"/chap", `{"name":"t","secret":"a-long-secret"}`, http.StatusNoContent, "")
	wantAPI(t, h, "DELETE", "/v1/targets/"+t2+"/chap", "", http.StatusNoContent, "")
	wantAPI(t, h, "DELETE", "/v1/targets/"+t2+"/chap", "", http.StatusNotFound, "chap_not_found")
	wantAPI(t, h, "DELETE", "/v1/targets/"+storeTestTarget, "", http.StatusConflict, "target_is_default")
	wantAPI(t, h, "DELETE", "/v1/targets/"+t2, "", http.StatusNoContent, "")
	wantAPI(t, h, "DELETE", "/v1/targets/"+t2, "", http.StatusNotFound, "target_not_found")

	wantAPI(t, h, "PUT", "/v1/chap/"+storeTestInit1, `{"name":"u","secret":"0123456789ab"}`, http.StatusNoContent, "")
	wantAPI(t, h, "PUT", "/v1/chap/notaname", `{"name":"u","secret":"0123456789ab"}`, http.StatusBadRequest, "invalid_initiator")
	body = wantAPI(t, h, "GET", "/v1/chap", "", http.StatusOK, "")
	if strings.Contains(body, "0123456789ab") {
		t.Fatal("CHAP secret listed")
	}
	wantAPI(t, h, "DELETE", "/v1/chap/"+storeTestInit1, "", http.StatusNoContent, "")
	wantAPI(t, h, "DELETE", "/v1/chap/"+storeTestInit1, "", http.StatusNotFound, "chap_not_found")
	wantAPI(t, h, "DELETE", "/v1/igroups/g", "", http.StatusNoContent, "")
}

func TestAPISessions(t *testing.T) {
	sessions := func() []SessionInfo {
		p := iscsi.DefaultSessionParams()
		p.HeaderDigest = true
		return []SessionInfo{{
			Initiator: storeTestInit1, ISID: iscsi.ISID{0x80, 1, 2, 3, 0, 1}, TSIH: 7,
			Target: storeTestTarget, Type: iscsi.SessionNormal, Params: p, LUNs: []uint64{0},
			Connections: []ConnInfo{{CID: 1, RemoteAddr: "127.0.0.1:5000", LocalAddr: "127.0.0.1:3260"}},
		}}
	}
	_, h := apiTestServer(t, sessions)
	body := wantAPI(t, h, "GET", "/v1/sessions", "", http.StatusOK, "")
	var list []APISession
	wantNoErr(t, json.Unmarshal([]byte(body), &list))
	if len(list) != 1 || list[0].ISID != "800102030001" || list[0].TSIH != 7 || list[0].Params["HeaderDigest"] != "CRC32C" ||
		len(list[0].Connections) != 1 || list[0].Type != "Normal" {
		t.Fatalf("sessions %+v", list)
	}
	wantAPI(t, h, "POST", "/v1/luns", `{"name":"a","size":4096}`, http.StatusCreated, "")
	wantAPI(t, h, "POST", "/v1/igroups", `{"name":"g","initiators":["`+storeTestInit1+`"]}`, http.StatusCreated, "")
	wantAPI(t, h, "POST", "/v1/maps", `{"lun":"a","igroup":"g"}`, http.StatusCreated, "")
	body = wantAPI(t, h, "GET", "/v1/luns/a", "", http.StatusOK, "")
	var info LUNInfo
	wantNoErr(t, json.Unmarshal([]byte(body), &info))
	if len(info.Sessions) != 1 || info.Sessions[0].TSIH != 7 || info.Sessions[0].LUNID != 0 {
		t.Fatalf("LUN sessions %+v", info.Sessions)
	}
	// Without a session lister the list is empty, not null.
	_, h2 := apiTestServer(t, nil)
	if body := wantAPI(t, h2, "GET", "/v1/sessions", "", http.StatusOK, ""); strings.TrimSpace(body) != "[]" {
		t.Fatalf("no sessions: %s", body)
	}
	wantAPI(t, h2, "GET", "/metrics", "", http.StatusNotFound, APICodeNotFound)
}

func TestAPIErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{storeInvalid("x_bad", "m"), 400, "x_bad"},
		{storeNotFound("x_nf", "m"), 404, "x_nf"},
		{storeConflict("x_c", "m"), 409, "x_c"},
		{ErrStoreClosed, 503, APICodeUnavailable},
		{context.Canceled, 503, APICodeUnavailable},
		{io.ErrUnexpectedEOF, 500, APICodeInternal},
	} {
		ae := apiErrorFor(tc.err)
		if ae.Status != tc.status || ae.Code != tc.code {
			t.Errorf("%v: %d %s, want %d %s", tc.err, ae.Status, ae.Code, tc.status, tc.code)
		}
	}
}
