// Text for HTML: the one escaping function the eval report and the demo's report use.
#pragma once
#include <string>

namespace ish::util {

// Escapes the five characters with a meaning in HTML text and attribute values:
// & -> &amp;  < -> &lt;  > -> &gt;  " -> &quot;  ' -> &#39;  (everything else, UTF-8 included, is kept).
std::string html_escape(const std::string& s);

}  // namespace ish::util
