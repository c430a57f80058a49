/*
** chart.c: charts in the terminal for the Results tab (curves, scatters,
** bars), drawn as text through draw.c's mbtui_text. With a UTF-8 locale a
** cell holds a braille character (2 x 4 dots) and bars use eighth blocks;
** otherwise one ASCII character per cell ('*', '+', '.') and '#' bars.
** Series differ by character as well as by colour, so a monochrome
** terminal tells them apart.
*/
#include <langinfo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results.h"

int mbtui_utf8(void)
{
    const char *cs = nl_langinfo(CODESET);
    return cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8"));
}

typedef struct canvas {
    int w, h;                     /* cells */
    int dx, dy;                   /* dots per cell: 2 x 4 (braille) or 1 x 1 */
    unsigned char *mask, *series; /* per cell: dots set, the series drawn last (1-based) */
} canvas;

static void dot(canvas *c, int px, int py, int s)
{
    if (px < 0 || py < 0 || px >= c->w * c->dx || py >= c->h * c->dy)
        return;
    static const unsigned char bit[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};
    int cell = (py / c->dy) * c->w + px / c->dx;
    c->mask[cell] |= c->dx == 2 ? bit[px % 2][py % 4] : 1;
    if (s != 3 || !c->series[cell]) /* the reference line (3) never hides a series */
        c->series[cell] = (unsigned char)s;
}

static void segment(canvas *c, int x0, int y0, int x1, int y1, int s)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (int guard = 0; guard < 100000; guard++) { /* Bresenham */
        dot(c, x0, y0, s);
        if (x0 == x1 && y0 == y1)
            return;
        int e2 = 2 * e;
        if (e2 >= dy)
            e += dy, x0 += sx;
        if (e2 <= dx)
            e += dx, y0 += sy;
    }
}

static int to_px(const canvas *c, const mbtui_plot *p, double x)
{
    double f = p->x1 > p->x0 ? (x - p->x0) / (p->x1 - p->x0) : 0.5;
    return (int)lround(f * (c->w * c->dx - 1));
}

static int to_py(const canvas *c, const mbtui_plot *p, double y)
{
    double f = p->y1 > p->y0 ? (y - p->y0) / (p->y1 - p->y0) : 0.5;
    return c->h * c->dy - 1 - (int)lround(f * (c->h * c->dy - 1));
}

/* One cell as text: a braille character (U+2800 + mask) or an ASCII mark. */
static void cell_text(const canvas *c, int i, char *out)
{
    static const char marks[] = " *+.";
    if (!c->mask[i]) {
        strcpy(out, " ");
    } else if (c->dx == 2) {
        unsigned m = c->mask[i];
        out[0] = (char)0xE2;
        out[1] = (char)(0xA0 | (m >> 6));
        out[2] = (char)(0x80 | (m & 0x3F));
        out[3] = 0;
    } else {
        out[0] = marks[c->series[i] & 3];
        out[1] = 0;
    }
}

static void render(const canvas *c, int y, int x)
{
    static const int attr[] = {MBTUI_A_NORMAL, MBTUI_A_BAR, MBTUI_A_WARN, MBTUI_A_DIM};
    char run[1024];
    for (int row = 0; row < c->h; row++) {
        int col = 0;
        while (col < c->w) {
            int s = c->series[row * c->w + col], start = col;
            size_t o = 0;
            while (col < c->w && c->series[row * c->w + col] == s && o + 4 < sizeof run) {
                cell_text(c, row * c->w + col, run + o);
                o += strlen(run + o);
                col++;
            }
            mbtui_text(y + row, x + start, col - start, attr[s & 3], run);
        }
    }
}

void mbtui_chart(mbtui_rect r, const mbtui_plot *p, const double *const *xs, const double *const *ys,
                 const int *ns, int nseries, int connect)
{
    const int lw = 9; /* y labels and the axis */
    if (r.h < 4 || r.w < lw + 10)
        return;
    canvas c = {r.w - lw, r.h - 2, 1, 1, NULL, NULL};
    if (mbtui_utf8())
        c.dx = 2, c.dy = 4;
    if (c.w > 400)
        c.w = 400;
    c.mask = mb_calloc((size_t)(c.w * c.h), 1);
    c.series = mb_calloc((size_t)(c.w * c.h), 1);
    int W = c.w * c.dx - 1;
    if (p->diagonal)
        segment(&c, to_px(&c, p, p->x0), to_py(&c, p, p->x0), to_px(&c, p, p->x1), to_py(&c, p, p->x1), 3);
    if (p->zero_line)
        segment(&c, 0, to_py(&c, p, 0), W, to_py(&c, p, 0), 3);
    for (int s = 0; s < nseries; s++) {
        int have = 0, px0 = 0, py0 = 0;
        for (int i = 0; i < ns[s]; i++) {
            if (!isfinite(xs[s][i]) || !isfinite(ys[s][i]))
                continue;
            int px = to_px(&c, p, xs[s][i]), py = to_py(&c, p, ys[s][i]);
            if (connect && have)
                segment(&c, px0, py0, px, py, s + 1);
            else
                dot(&c, px, py, s + 1);
            have = 1, px0 = px, py0 = py;
        }
    }
    const char *bar = mbtui_utf8() ? "│" : "|";
    for (int row = 0; row < c.h; row++) {
        char lab[32] = "";
        if (row == 0)
            snprintf(lab, sizeof lab, "%7.3g ", p->y1);
        else if (row == c.h - 1)
            snprintf(lab, sizeof lab, "%7.3g ", p->y0);
        else if (row == c.h / 2 && p->ylabel)
            snprintf(lab, sizeof lab, "%7.7s ", p->ylabel);
        mbtui_textf(r.y + row, r.x, lw, MBTUI_A_DIM, "%-8s%s", lab, bar);
    }
    render(&c, r.y, r.x + lw);
    char lo[32], hi[32];
    snprintf(lo, sizeof lo, "%.3g", p->x0);
    snprintf(hi, sizeof hi, "%.3g", p->x1);
    int y = r.y + c.h;
    mbtui_textf(y, r.x, r.w, MBTUI_A_DIM, "%*s%s", lw, "", mbtui_utf8() ? "└" : "+");
    mbtui_text(y + 1, r.x, r.w, MBTUI_A_DIM, "");
    mbtui_text(y + 1, r.x + lw, (int)strlen(lo), MBTUI_A_DIM, lo);
    if (p->xlabel) {
        int lx = r.x + lw + (c.w - (int)strlen(p->xlabel)) / 2;
        mbtui_text(y + 1, lx, (int)strlen(p->xlabel), MBTUI_A_DIM, p->xlabel);
    }
    mbtui_text(y + 1, r.x + lw + c.w - (int)strlen(hi), (int)strlen(hi), MBTUI_A_DIM, hi);
    mb_free(c.mask);
    mb_free(c.series);
}

void mbtui_hbar(int y, int x, int w, int attr, double v, double max)
{
    static const char *const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    char buf[1024];
    size_t o = 0;
    int utf8 = mbtui_utf8(), per = utf8 ? 8 : 1;
    int units = max > 0 && v > 0 && isfinite(v) ? (int)lround(v / max * w * per) : 0;
    if (units > w * per)
        units = w * per;
    for (int i = 0; i < units / per && o + 4 < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", utf8 ? "█" : "#");
    if (utf8 && o + 4 < sizeof buf)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", eighths[units % 8]);
    buf[o] = 0;
    mbtui_text(y, x, w, attr, buf);
}
