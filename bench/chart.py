"""The PNG chart; imported only where matplotlib exists (see report.write_png)."""
import matplotlib.pyplot as plt


def draw(rows, png_path):
    configs = list(dict.fromkeys(r["config"] for r in rows))
    servers = list(dict.fromkeys(r["server"] for r in rows))
    palette = plt.get_cmap("tab20").colors     # 20 colours: one per server, no repeats
    colours = {server: palette[i % len(palette)] for i, server in enumerate(servers)}
    fig, axes = plt.subplots(len(configs), 1, figsize=(12, 3.2 * len(configs)), squeeze=False)
    for ax, config in zip(axes[:, 0], configs, strict=True):
        _panel(ax, config, [r for r in rows if r["config"] == config], servers, colours)
    legend = {}
    for ax in axes[:, 0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), ncol=min(len(servers), 6), fontsize=8, loc="upper center")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (3.2 * len(configs))))
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def _panel(ax, config, rows, servers, colours):
    apps = list(dict.fromkeys(r["app"] for r in rows))
    width = 0.85 / len(servers)
    for i, server in enumerate(servers):
        xs, ys, lows, highs = [], [], [], []
        for j, app in enumerate(apps):
            row = next((r for r in rows if r["app"] == app and r["server"] == server), None)
            if row and row.get("rps"):
                xs.append(j + (i - (len(servers) - 1) / 2) * width)
                ys.append(row["rps"])
                lows.append(row["rps"] - row["rps_min"])
                highs.append(row["rps_max"] - row["rps"])
        if xs:
            ax.bar(xs, ys, width, yerr=[lows, highs], label=server, color=colours[server],
                   error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_xticks(range(len(apps)), apps)
    ax.set_yscale("log")
    ax.set_ylabel("req/s (median, log)")
    ax.set_title(config, loc="left", fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.3)
