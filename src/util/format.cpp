// fmt's compiled part, once. The library formats with fmt (src/util/logger.hpp, the storage
// layer's messages) but neither the installed package nor a consumer may need libfmt, so fmt's
// out-of-line functions are built into switchyard here, hidden like the rest of src/. Every
// other translation unit includes fmt's headers in its default (not header-only) mode, which
// declares these functions instead of compiling all of them again in each unit: header-only
// fmt doubled the compile time of every file that logs (under the sanitizers, 48 s against 24 s
// for src/queue/queue_state.cpp).
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

// format.h declares these instantiations extern when fmt is not header-only.
template auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template auto thousands_sep_impl<wchar_t>(locale_ref) -> thousands_sep_result<wchar_t>;
template auto decimal_point_impl(locale_ref) -> char;
template auto decimal_point_impl(locale_ref) -> wchar_t;

}  // namespace detail
FMT_END_NAMESPACE
