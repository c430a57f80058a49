#!/usr/bin/env bats
# What moonbench trusts when it loads a bundle (docs/security.md, "Model
# bundles"): a portable bundle runs no plugin code; a non-portable one is
# scored only by the plugin it names; signatures (keygen, sign, --trust,
# MOONBENCH_TRUST).
load helpers

BUILD_DIR="$(dirname "$MB")"
TPLUG="$BUILD_DIR/tests/plugins"

setup() {
    cd "$BATS_TEST_TMPDIR"
}

@test "plugins: scoring a portable bundle loads no plugin (its constructor never runs)" {
    mkdir plug
    cp "$TPLUG/marker.so" plug/
    mb fit "$DATA/diabetes.h5" -m baseline -o b.h5 >/dev/null
    MOONBENCH_PLUGIN_PATH=$PWD/plug MB_TEST_MARKER=$PWD/marker run mb predict b.h5 "$DATA/diabetes.h5" -o p.csv
    assert_success
    [ ! -e marker ]
    # the oracle can fail: listing the plugins does run the constructor
    MOONBENCH_PLUGIN_PATH=$PWD/plug MB_TEST_MARKER=$PWD/marker run mb plugins
    assert_success
    assert_output --partial "marker 0.0.1"
    [ "$(cat marker)" = "marker plugin loaded" ]
}

@test "plugins: a bundle of plugin X's model is refused when only plugin Y has a model of that name" {
    mb fit "$DATA/iris.h5" -m knn -o knn.h5 >/dev/null     # template/knn: no portable form
    mkdir other
    cp "$TPLUG/dup_model.so" other/                         # plugin dup_model, also a model "knn"
    cp "$MB" ./mb-alone                                     # no plugins beside this copy
    MOONBENCH_PLUGIN_PATH=$PWD/other run ./mb-alone predict knn.h5 "$DATA/iris.h5"
    assert_failure 1
    assert_output --partial "knn.h5: the model 'knn' comes from plugin 'template'"
    assert_output --partial "plugin 'dup_model' ($PWD/other/dup_model.so) also has a model named 'knn', but it is another plugin's and is not used"
    # with the right plugin it scores
    run mb predict knn.h5 "$DATA/iris.h5"
    assert_success
    assert_line --index 1 --regexp "^setosa,"
}

# Recompute the seal of a file after editing it, as anyone can (the seal is
# a plain SHA-256 of bytes 512..end); the rest of the user block is kept.
reseal() {
    python3 - "$1" <<'PY'
import hashlib, sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
tag = b"moonbench sealed file; sha256 of bytes 512..end: "
assert d.startswith(tag)
d[len(tag):len(tag) + 64] = hashlib.sha256(d[512:]).hexdigest().encode()
open(p, "wb").write(d)
PY
}

# Overwrite float64 element $3 of dataset $2 in bundle $1 with $4, in place.
patch_f64() {
    off=$(h5dump -p -d "$2" "$1" | sed -n 's/.*OFFSET \([0-9]*\).*/\1/p')
    python3 -c "
import struct, sys
p, off, k, v = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
d = bytearray(open(p, 'rb').read())
d[off + 8 * k:off + 8 * k + 8] = struct.pack('<d', v)
open(p, 'wb').write(d)" "$1" "$off" "$3" "$4"
}

@test "keygen: a secret key (mode 0600) and a public key in the documented format; never overwritten" {
    run mb keygen -o alice
    assert_success
    assert_output --partial "secret key -> alice.key"
    [ "$(stat -c %a alice.key)" = 600 ]
    [ "$(head -1 alice.key)" = "moonbench-ed25519-secret v1" ]
    [ "$(head -1 alice.pub)" = "moonbench-ed25519-public v1" ]
    [ "$(sed -n 2p alice.pub | base64 -d | wc -c)" -eq 32 ]
    [ "$(sed -n 2p alice.key | base64 -d | wc -c)" -eq 64 ]
    # libsodium's secret key ends with the public key
    [ "$(sed -n 2p alice.key | base64 -d | tail -c 32 | base64)" = "$(sed -n 2p alice.pub)" ]
    sum=$(sha256sum alice.key)
    run mb keygen -o alice
    assert_failure 1
    assert_output "moonbench: alice.key exists; moonbench never overwrites a key (choose another name)"
    [ "$(sha256sum alice.key)" = "$sum" ]
}

@test "sign + --trust: signed bundles load; unsigned, other keys' and tampered ones are refused naming the file" {
    mb keygen -o alice >/dev/null
    mb keygen -o mallory >/dev/null
    mb fit "$DATA/iris.h5" -m baseline -o b.h5 >/dev/null
    run mb predict b.h5 "$DATA/iris.h5" --trust alice.pub
    assert_failure 1
    assert_output "moonbench: b.h5: not signed, and only bundles signed by a trusted key are loaded (--trust / \$MOONBENCH_TRUST); sign it with \`moonbench sign b.h5 --key KEY\`"
    chmod 640 b.h5
    run mb sign b.h5 --key alice.key
    assert_success
    assert_output "b.h5: signed by key $(sed -n 2p alice.pub)"
    [ "$(stat -c %a b.h5)" = 640 ]        # signing keeps the file's permissions
    mb predict b.h5 "$DATA/iris.h5" > plain.csv
    run mb predict b.h5 "$DATA/iris.h5" --trust alice.pub -o trusted.csv
    assert_success
    cmp plain.csv trusted.csv
    run mb predict b.h5 "$DATA/iris.h5" --trust mallory.pub
    assert_failure 1
    assert_output "moonbench: b.h5: signed by key $(sed -n 2p alice.pub), which is not a trusted key (trusted: 1 key from mallory.pub)"
    # one trust file with several keys; --trust repeated
    cat mallory.pub alice.pub > team.keys
    run mb predict b.h5 "$DATA/iris.h5" --trust team.keys
    assert_success
    run mb verify b.h5 --trust mallory.pub --trust alice.pub
    assert_success
    assert_output "b.h5: signed by a trusted key (from alice.pub)"
    # a secret key is no trust file; a public key cannot sign
    run mb predict b.h5 "$DATA/iris.h5" --trust alice.key
    assert_failure 1
    assert_output --partial "trust file alice.key: this is a secret key"
    run mb sign b.h5 --key alice.pub
    assert_failure 1
    assert_output --partial "key file alice.pub: a public key"
}

@test "sign: an edited bundle whose seal was recomputed (the attack the seal cannot stop) fails its signature" {
    command -v python3 >/dev/null || skip "python3 is needed to forge the seal"
    mb keygen -o alice >/dev/null
    mb fit "$DATA/iris.h5" -m baseline -o b.h5 >/dev/null
    mb sign b.h5 --key alice.key >/dev/null
    cp b.h5 evil.h5
    patch_f64 evil.h5 /model/portable/intercept 2 5.0     # always "virginica"
    reseal evil.h5
    # the seal alone accepts it, and the predictions changed: the attack works...
    run mb predict evil.h5 "$DATA/iris.h5"
    assert_success
    assert_line --index 1 --regexp "^virginica,"
    # ...until a key is trusted
    run mb predict evil.h5 "$DATA/iris.h5" --trust alice.pub
    assert_failure 1
    assert_output "moonbench: evil.h5: bad signature: the bundle was changed after it was signed (or the signature is forged)"
    # dropping the signature line makes it unsigned, refused too
    python3 -c "
import sys; p = sys.argv[1]; d = bytearray(open(p, 'rb').read())
at = d.index(b'\\n') + 1; d[at:512] = bytes(512 - at); open(p, 'wb').write(d)" evil.h5
    run mb predict evil.h5 "$DATA/iris.h5" --trust alice.pub
    assert_failure 1
    assert_output --partial "evil.h5: not signed"
    # the signed original is untouched
    run mb verify b.h5 --trust alice.pub
    assert_success
}

@test "MOONBENCH_TRUST: predict and Lua's mb.load (moonbench run) refuse unsigned bundles" {
    mb keygen -o alice >/dev/null
    mb fit "$DATA/iris.h5" -m baseline -o b.h5 >/dev/null
    cat > load.lua <<'LUA'
local mb = require "moonbench"
local p = mb.load(arg[1])
print(#p:predict(mb.open(arg[2])))
LUA
    run mb run load.lua b.h5 "$DATA/iris.h5"
    assert_success
    assert_output "150"
    MOONBENCH_TRUST=$PWD/alice.pub run mb run load.lua b.h5 "$DATA/iris.h5"
    assert_failure
    assert_output --partial "b.h5: not signed"
    MOONBENCH_TRUST=$PWD/alice.pub run mb predict b.h5 "$DATA/iris.h5"
    assert_failure 1
    assert_output --partial "b.h5: not signed"
    # sign checks what it signs, not who signed it: the variable does not stop it
    MOONBENCH_TRUST=$PWD/alice.pub run mb sign b.h5 --key alice.key
    assert_success
    MOONBENCH_TRUST=$PWD/alice.pub run mb run load.lua b.h5 "$DATA/iris.h5"
    assert_success
    assert_output "150"
    # a variable naming a missing file fails closed
    MOONBENCH_TRUST=$PWD/nope.pub run mb predict b.h5 "$DATA/iris.h5"
    assert_failure 1
    assert_output --partial "\$MOONBENCH_TRUST: trust file $PWD/nope.pub: No such file or directory"
}

@test "plugins: Lua's mb.load of a portable bundle loads no plugin either; mb.plugins() still lists them" {
    mkdir plug
    cp "$TPLUG/marker.so" plug/
    mb fit "$DATA/diabetes.h5" -m baseline -o b.h5 >/dev/null
    cat > score.lua <<'LUA'
local mb = require "moonbench"
print(#mb.load(arg[1]):predict(mb.open(arg[2])))
LUA
    MOONBENCH_PLUGIN_PATH=$PWD/plug MB_TEST_MARKER=$PWD/marker run mb run score.lua b.h5 "$DATA/diabetes.h5"
    assert_success
    assert_output "442"
    [ ! -e marker ]
    cat > list.lua <<'LUA'
local mb = require "moonbench"
for _, p in ipairs(mb.plugins()) do io.write(p.name, " ") end
print()
LUA
    MOONBENCH_PLUGIN_PATH=$PWD/plug MB_TEST_MARKER=$PWD/marker run mb run list.lua
    assert_success
    assert_output --partial "marker"
    [ "$(cat marker)" = "marker plugin loaded" ]
}
