# moat.vcl: Varnish in front of moat, purged by moat (purge_targets: [{type: varnish, url: ...}]).
# Needs varnish-modules (xkey): apt-get install varnish varnish-modules.
#
# moat sends, to the address of this Varnish:
#   PURGE /        xkey-purge: t1 t2 ...       every object tagged t1 or t2 (hard)
#   PURGE /        xkey-softpurge: t1 t2 ...   the same, kept for grace (stale while refetched)
#   PURGE /path    Host: host                  one URL (and its variants)
#   BAN /          X-Moat-Ban-Path: ^regexp    every object whose path matches (a prefix purge)
#   BAN /          X-Moat-Ban-All: 1           everything
# Objects get their tags from moat's responses: set routes[].edge.tag_headers: [xkey] (or
# tags.downstream: true, whose Surrogate-Key is read below).
vcl 4.1;

import xkey;

# moat's listener. (The tests rewrite this line.)
backend moat {
    .host = "127.0.0.1";
    .port = "8080";
}

# Who may purge and ban: the moat nodes. Keep it to them.
acl moat_purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ moat_purgers) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.xkey-purge) {
            set req.http.x-purged = xkey.purge(req.http.xkey-purge);
            return (synth(200, "Purged " + req.http.x-purged));
        }
        if (req.http.xkey-softpurge) {
            set req.http.x-purged = xkey.softpurge(req.http.xkey-softpurge);
            return (synth(200, "Soft-purged " + req.http.x-purged));
        }
        return (purge);
    }
    if (req.method == "BAN") {
        if (client.ip !~ moat_purgers) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.X-Moat-Ban-All) {
            ban("obj.status != 0");
            return (synth(200, "Banned everything"));
        }
        if (req.http.X-Moat-Ban-Path) {
            # Lurker-friendly: on the object's own field, not on req.url.
            ban("obj.http.x-moat-path ~ " + req.http.X-Moat-Ban-Path);
            return (synth(200, "Banned"));
        }
        return (synth(400, "BAN needs X-Moat-Ban-Path or X-Moat-Ban-All"));
    }
}

sub vcl_backend_response {
    # The path, for bans by prefix.
    set beresp.http.x-moat-path = regsub(bereq.url, "\?.*$", "");
    # Tags: xkey reads the xkey field; moat's Surrogate-Key (tags.downstream) is the same list.
    if (!beresp.http.xkey && beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
}

sub vcl_deliver {
    unset resp.http.x-moat-path;
    unset resp.http.xkey;
}
