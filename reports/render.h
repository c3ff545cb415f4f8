// Renderers of a Comparison (reports/compare.h): GitHub-flavoured Markdown (readable in a terminal) and
// one self-contained HTML file (inline CSS and SVG charts, no network, no external files, no script
// needed to display anything). Both show the same numbers in the same order: headline, charts (HTML) or
// their tables (Markdown), statistics, sanity warnings, provenance.
#pragma once

#include "reports/compare.h"

#include <string>

namespace questbench {

std::string render_markdown(const Comparison& comparison);
std::string render_html(const Comparison& comparison);

}  // namespace questbench
