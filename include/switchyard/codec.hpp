// switchyard/codec.hpp — turning a typed payload into bytes, only where bytes are needed.
//
// In memory a message carries a C++ object by ownership and nobody serialises it. Bytes are
// needed only where a durable destination stores the message, and where `Message::encoded()`
// or `Message::get<T>()` is asked for them; there `Codec<T>` is used. Specialise it for your
// own types:
//
//   template <> struct switchyard::Codec<Order> {
//     static void encode(const Order& order, std::string& out);
//     static Result<Order> decode(std::span<const std::byte> bytes);
//   };
//
// Trivially copyable types and std::string have codecs out of the box.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

#include "switchyard/error.hpp"

namespace switchyard {

/// The primary template has no members: a type has a codec only if someone wrote one.
template <class T>
struct Codec {};

/// True when `Codec<T>` can both encode and decode.
template <class T>
concept HasCodec = requires(const T& value, std::string& out, std::span<const std::byte> bytes) {
  { Codec<T>::encode(value, out) };
  { Codec<T>::decode(bytes) } -> std::same_as<Result<T>>;
};

/// Trivially copyable values travel as their object representation (same machine, same build).
template <class T>
  requires(std::is_trivially_copyable_v<T> && !std::is_pointer_v<T>)
struct Codec<T> {
  static void encode(const T& value, std::string& out) {
    out.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  static Result<T> decode(std::span<const std::byte> bytes) {
    if (bytes.size() != sizeof(T)) {
      return Result<T>(Errc::corrupt, "payload has " + std::to_string(bytes.size()) +
                                          " bytes, the type needs " + std::to_string(sizeof(T)));
    }
    T value;
    std::memcpy(&value, bytes.data(), sizeof(T));
    return value;
  }
};

template <>
struct Codec<std::string> {
  static void encode(const std::string& value, std::string& out) { out.append(value); }
  static Result<std::string> decode(std::span<const std::byte> bytes) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
};

}  // namespace switchyard
