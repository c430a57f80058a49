/*
** mbtui.h: the workbench's entry point, for src/main.c: `moonbench` with no
** arguments, or with a path that is not a command, opens it.
*/
#ifndef MB_MBTUI_H
#define MB_MBTUI_H

/* Does arg name an existing file or folder (so `moonbench ARG` opens it)? */
int mb_tui_is_path(const char *arg);

/* Run the workbench on argv[1] (a folder or a data file; the working folder
** when absent). Returns the exit status: 0, or 2 when there is no terminal
** (no TTY, TERM unset or dumb) or the path does not exist. */
int mb_tui_main(int argc, char **argv);

#endif
