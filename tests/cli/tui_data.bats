#!/usr/bin/env bats
# The workbench's Data tab in a real terminal (tmux): sort, filter and
# derived columns as a stack of views with undo, checked against sort(1)
# and awk on the CSV copy of the data; statistics and training follow the
# current view; the saved session replays it all headless (moonbench run).
bats_require_minimum_version 1.5.0
load tui_helpers

CSV=datasets/csv/iris.csv

# row_tokens N: the values of table row N on screen, space-separated
row_tokens() { screen | grep -E "^$1 " | head -1 | tr -d '│' | awk '{$1 = ""; print substr($0, 2)}'; }
# csv_rows: iris.csv rows as the table prints them (numbers %.6g)
csv_rows() { awk -F, '{printf "%.6g %.6g %.6g %.6g %s\n", $1, $2, $3, $4, $5}'; }

open_file() {
    tui_start "$@" datasets/iris.h5
    wait_for "150 rows x 5 columns"
}

# first_rows_are FILE: table rows 1.. on screen equal the lines of FILE
first_rows_are() {
    local i=1 line
    while read -r line; do
        [ "$(row_tokens $i)" = "$line" ] || { screen; echo "row $i: want $line"; return 1; }
        i=$((i + 1))
    done <"$1"
}

# prompt_in KEY TEXT: open the prompt of KEY, type TEXT, Enter
prompt_in() {
    keys "$1"
    wait_for "${3:-(}"
    type_text "$2"
    keys Enter
}

@test "sort by the column under the cursor, again descending: the first rows are sort(1)'s (stable)" {
    open_file
    keys Right O
    wait_for "views: file · sorted by sepal width (cm) ↑"
    tail -n +2 "$CSV" | sort -t, -k2,2g -s | head -3 | csv_rows >want
    first_rows_are want
    keys O
    wait_for "sorted by sepal width (cm) ↓"
    tail -n +2 "$CSV" | sort -t, -k2,2gr -s | head -3 | csv_rows >want
    first_rows_are want
    # a categorical column sorts by its text
    keys End
    keys Right Right Right O
    wait_for "sorted by target ↑"
    [ "$(row_tokens 1 | awk '{print $5}')" = setosa ]
}

@test "filter by a Lua expression: the row count is awk's; names with spaces as col[...] or a_b" {
    open_file
    want=$(awk -F, 'NR > 1 && $3 > 4 && $5 == "virginica"' "$CSV" | wc -l)
    prompt_in '|' 'petal_length_cm > 4 and target == "virginica"' "filter rows where"
    wait_for "150 -> $want rows x 5 columns"
    screen | grep -q 'views: file · filter: petal_length_cm > 4 and target == "virginica"'
    want2=$(awk -F, 'NR > 1 && $3 > 4 && $5 == "virginica" && $2 >= 3' "$CSV" | wc -l)
    prompt_in '|' 'col["sepal width (cm)"] >= 3' "filter rows where"
    wait_for "150 -> $want2 rows x 5 columns"
    # the rows themselves are awk's, in order
    awk -F, 'NR > 1 && $3 > 4 && $5 == "virginica" && $2 >= 3' "$CSV" | head -2 | csv_rows >want
    first_rows_are want
}

@test "derived columns: numbers equal awk's, a string expression gives a frequency table of the view" {
    open_file
    prompt_in '=' 'ratio = petal_length_cm / petal_width_cm' "derive column"
    wait_for "+ ratio = petal_length_cm / petal_width_cm"
    screen | grep -q "target\* *ratio"
    awk -F, 'NR > 1 && NR <= 4 {printf "%.6g\n", $3 / $4}' "$CSV" >want
    for i in 1 2 3; do
        [ "$(row_tokens $i | awk '{print $6}')" = "$(sed -n ${i}p want)" ] || { screen; cat want; false; }
    done
    # a categorical derived column; its statistics follow the view
    prompt_in '=' 'size = petal_length_cm > 4 and "long" or "short"' "derive column"
    wait_for "+ size = "
    long=$(awk -F, 'NR > 1 && $3 > 4' "$CSV" | wc -l)
    keys s
    wait_for "size (categorical): 150 values, 0 missing, 2 distinct levels"
    screen | grep -Eq "^long +$long "
    screen | grep -Eq "^short +$((150 - long)) "
    # statistics of a filtered view count its rows only
    prompt_in '|' 'size == "long"' "filter rows where"
    wait_for "150 -> $long rows"
    wait_for "size (categorical): $long values, 0 missing, 1 distinct levels"
}

@test "undo brings the previous view back with its cursor; nothing to undo says so" {
    open_file
    keys g
    wait_for "go to row:"
    type_text 120
    keys Enter
    wait_for "$(printf '%-4s' 120)"
    prompt_in '|' 'target == "setosa"' "filter rows where"
    wait_for "150 -> 50 rows"
    wait_gone "$(printf '%-4s' 120)"
    keys O
    wait_for "sorted by sepal length (cm) ↑"
    keys u
    wait_for "undone: sorted by sepal length (cm) ↑; back to 50 rows"
    keys u
    wait_for "150 rows x 5 columns"
    screen | grep -Eq "^120 +"
    wait_gone "views:"
    keys u
    wait_for "nothing to undo"
}

@test "a Lua error in an expression is shown and the UI goes on; the memory limit is refused politely" {
    open_file
    prompt_in '|' 'nope > 1' "filter rows where"
    wait_for "'nope' is not a column"
    prompt_in '|' 'sepal_length_cm >' "filter rows where"
    wait_for "the expression is not valid Lua"
    prompt_in '=' 'no equals sign' "derive column"
    wait_for "expected 'name = expression'"
    prompt_in '=' 'm = target == "setosa" and 1 or "x"' "derive column"
    wait_for "gives a string, the rows before it numbers"
    # still working
    prompt_in '|' 'target == "setosa"' "filter rows where"
    wait_for "150 -> 50 rows"
    keys q
    wait_for "[exit 0]"
    teardown
    open_file MOONBENCH_TUI_MAX_MB=0.001
    keys O
    wait_for "over the limit of 0 MB"
    screen | grep -q "150 rows x 5 columns"
}

@test "a long filter runs in the background: input stays live, : waits, x cancels" {
    open_file
    prompt_in '|' '(function() local t = os.clock() while os.clock() - t < 60 do end return true end)()' \
        "filter rows where"
    wait_for "filter 0%"
    wait_for "x cancels"
    # the table moves meanwhile
    keys End
    for _ in $(seq 50); do screen | grep -Eq '^150 +' && break; sleep 0.2; done
    screen | grep -Eq '^150 +'
    screen | grep -q "filter 0%"
    keys :
    wait_for "lua>"
    type_text "1 + 1"
    keys Enter
    wait_for "the session is busy with a filter"
    keys x
    wait_for "cancelled: " 10
    screen | grep -q "150 rows x 5 columns"
    # the session is free again
    keys :
    type_text "#data"
    keys Enter
    wait_for "= 150"
}

@test "the saved session replays headless: the same rows, and a model trained on the filtered view has the same metrics" {
    open_file
    want=$(awk -F, 'NR > 1 && $3 > 2' "$CSV" | wc -l)
    prompt_in '|' 'petal_length_cm > 2' "filter rows where"
    wait_for "150 -> $want rows"
    keys 3
    wait_for "linear/linear"
    keys r
    wait_for "run 1 (linear) done"
    keys 4
    wait_for "run 1: linear"
    acc=$(board_row 1 | awk '{print $5}')
    # more views after the training: the replay ends on the same rows
    keys 1 Right O
    wait_for "sorted by sepal width (cm) ↑"
    keys O
    wait_for "sorted by sepal width (cm) ↓"
    prompt_in '=' 'area = petal_length_cm * petal_width_cm' "derive column"
    wait_for "+ area ="
    first=$(row_tokens 1)
    keys W
    wait_for "save session to: session.lua"
    keys Enter
    wait_for "session saved to session.lua"
    grep -q 'data:filter("petal_length_cm > 2", { progress = progress })' session.lua
    grep -q 'data:sort("sepal width (cm)", { desc = true, progress = progress })' session.lua
    { cat session.lua
      echo 'print("rows", #data)'
      echo 'local t = {}'
      echo 'for _, c in ipairs(data:columns()) do'
      echo '  local v = data:col(c):totable()[1]'
      echo '  t[#t + 1] = type(v) == "number" and string.format("%.6g", v) or tostring(v)'
      echo 'end'
      echo 'print("first", table.concat(t, " "))'; } >replay.lua
    run "$MB" run replay.lua
    assert_success
    assert_output --partial "run1: accuracy=$acc"
    assert_output --partial "rows	$want"
    assert_output --partial "first	$first"
    # the oracle: the same training written by hand on the filtered rows
    run "$MB" run <(echo 'local mb = require "moonbench"
      local d = mb.open("datasets/iris.h5"):filter(function(r) return r["petal length (cm)"] > 2 end)
      local train, test = mb.split(d, { test = 0.25, seed = 1, stratify = true })
      local p = mb.pipeline { mb.model("linear") }
      p:fit(train, { seed = 1 })
      print(string.format("accuracy=%.4f n=%d", mb.evaluate(p, test).accuracy, #test))')
    assert_success
    assert_output "accuracy=$acc n=25"
}
