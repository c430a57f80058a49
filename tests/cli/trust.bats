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
