//! The rewrite of the function: checks its signature, then wraps its body.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    parse_quote, GenericArgument, ItemFn, PathArguments, ReturnType, Signature, Type, TypePath,
};

use crate::args::Args;

/// The `T` and `E` of a return type written `Result<T, E>` (any path ending in `Result`).
struct ResultParts {
    /// The whole return type as written, for the inner body's annotation.
    original: Type,
    /// The return type with `E` replaced by `::breakerbox::Error<E>`.
    wrapped: Type,
}

/// Rewrites `item` so its body runs through the breaker that `args` names.
pub(crate) fn expand(args: &Args, mut item: ItemFn) -> syn::Result<TokenStream> {
    check_signature(&item.sig)?;
    let parts = result_parts(&item.sig)?;

    let name = &args.name;
    let make_config = make_config(args);
    // Hygienic local: cannot clash with (or be seen by) the user's identifiers.
    let breaker = format_ident!("__breakerbox_breaker", span = Span::mixed_site());
    let original = &parts.original;
    let block = &item.block;
    let stmts = &item.block.stmts;

    // The breaker is looked up in the global registry once per function and kept in a
    // static: later calls read one `OnceLock` instead of cloning (and dropping) the `Arc`,
    // two read-modify-writes on a reference count that every calling core would share.
    let lookup = quote! {
        let #breaker: &'static ::breakerbox::CircuitBreaker = {
            static __BREAKERBOX_BREAKER: ::std::sync::OnceLock<
                ::std::sync::Arc<::breakerbox::CircuitBreaker>,
            > = ::std::sync::OnceLock::new();
            __BREAKERBOX_BREAKER.get_or_init(|| {
                ::breakerbox::Registry::global().get_or_create_with(#name, #make_config)
            })
        };
    };
    let new_block: syn::Block = if item.sig.asyncness.is_some() {
        let hint = format_ident!("__breakerbox_return", span = Span::mixed_site());
        // An async block has no return-type annotation, and `?` inside it needs one: the
        // `if false` branch never runs but fixes the block's output type, so `return` and
        // `?` in the body behave as in the original `async fn` (the trick tracing uses).
        parse_quote! {{
            #lookup
            #breaker
                .call_future(async move {
                    #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
                    if false {
                        let #hint: #original = loop {};
                        return #hint;
                    }
                    #(#stmts)*
                })
                .await
        }}
    } else {
        // `move` hands the arguments (and `self`) to the closure, which runs at most once.
        parse_quote! {{
            #lookup
            #breaker.call(move || -> #original #block)
        }}
    };

    item.sig.output = ReturnType::Type(Default::default(), Box::new(parts.wrapped));
    *item.block = new_block;
    Ok(quote!(#item))
}

/// Rejects the kinds of function whose body cannot be moved into a closure or block.
fn check_signature(sig: &Signature) -> syn::Result<()> {
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "#[circuit_breaker] cannot be applied to a `const fn`: the breaker is looked up at run time",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new_spanned(
            variadic,
            "#[circuit_breaker] cannot be applied to a variadic function",
        ));
    }
    Ok(())
}

fn not_a_result(tokens: impl quote::ToTokens, what: &str) -> syn::Error {
    // `new_spanned` covers all of `tokens`, not only their first token.
    syn::Error::new_spanned(
        tokens,
        format!(
            "#[circuit_breaker] requires the function to return `Result<T, E>` \
             (it then returns `Result<T, breakerbox::Error<E>>`); {what}"
        ),
    )
}

/// Splits the return type into `T` and `E`, or explains why it cannot.
fn result_parts(sig: &Signature) -> syn::Result<ResultParts> {
    let ty = match &sig.output {
        ReturnType::Type(_, ty) => ty.as_ref(),
        ReturnType::Default => {
            // No return type to point at: the whole signature is the culprit.
            return Err(not_a_result(sig, "this function returns `()`"));
        }
    };
    let mut inner = ty;
    // Strip the invisible groups of `macro_rules!` expansions and redundant parentheses.
    loop {
        match inner {
            Type::Group(g) => inner = &g.elem,
            Type::Paren(p) => inner = &p.elem,
            _ => break,
        }
    }
    let Type::Path(TypePath { qself: None, path }) = inner else {
        return Err(not_a_result(ty, "this return type is not a `Result`"));
    };
    let last = path.segments.last().filter(|s| s.ident == "Result");
    let Some(last) = last else {
        return Err(not_a_result(ty, "this return type is not a `Result`"));
    };
    let types: Vec<&Type> = match &last.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let arg_count = match &last.arguments {
        PathArguments::AngleBracketed(a) => a.args.len(),
        _ => 0,
    };
    if types.len() != 2 || arg_count != 2 {
        return Err(syn::Error::new_spanned(
            ty,
            "#[circuit_breaker] needs the return type written `Result<T, E>`, with the error \
             type spelled out, to wrap it in `breakerbox::Error<E>`; an alias such as \
             `io::Result<T>` hides it",
        ));
    }
    let (t, e) = (types[0], types[1]);
    // Keep the user's own path to `Result` (`std::result::Result`, `anyhow::Result`, ...).
    let mut wrapped_path = path.clone();
    if let Some(seg) = wrapped_path.segments.last_mut() {
        let e_span = e.span();
        seg.arguments = PathArguments::AngleBracketed(parse_quote_spanned_args(t, e, e_span));
    }
    Ok(ResultParts {
        original: ty.clone(),
        wrapped: Type::Path(TypePath {
            qself: None,
            path: wrapped_path,
        }),
    })
}

/// `<T, ::breakerbox::Error<E>>`, the wrapper spanned on `E` so type errors point there.
fn parse_quote_spanned_args(t: &Type, e: &Type, span: Span) -> syn::AngleBracketedGenericArguments {
    let wrapped_e = quote_spanned!(span=> ::breakerbox::Error<#e>);
    parse_quote!(<#t, #wrapped_e>)
}

/// The closure that builds the breaker's `Config` from the settings given.
fn make_config(args: &Args) -> TokenStream {
    let threshold = quote!(::breakerbox::Config::MAX_THRESHOLD);
    let duration = quote!(::breakerbox::Config::MAX_DURATION.as_nanos());
    // (setting, builder method, the crate's limit for it, the value's comparable form)
    let settings = [
        (
            &args.failure_threshold,
            "failure_threshold",
            &threshold,
            false,
        ),
        (
            &args.success_threshold,
            "success_threshold",
            &threshold,
            false,
        ),
        (
            &args.half_open_max_calls,
            "half_open_max_calls",
            &threshold,
            false,
        ),
        (&args.timeout, "timeout", &duration, true),
        (
            &args.half_open_timeout,
            "half_open_timeout",
            &duration,
            true,
        ),
    ];
    let mut calls = Vec::new();
    let mut checks = Vec::new();
    for (setting, method, limit, is_duration) in settings {
        let Some(s) = setting else { continue };
        let method = format_ident!("{}", method);
        let v = s.to_value_tokens();
        calls.push(quote!(.#method(#v)));
        let value = if is_duration {
            quote!(#v.as_nanos())
        } else {
            quote!(#v)
        };
        checks.push(quote! {
            ::core::assert!(
                #value <= #limit,
                "breakerbox: the macro's limits exceed the crate's (Config::MAX_THRESHOLD / MAX_DURATION)",
            );
        });
    }
    let checks = if checks.is_empty() {
        TokenStream::new()
    } else {
        // The macro checked every value against the limits it knows; this re-checks them
        // against the crate's constants when the caller compiles, so the two cannot drift.
        quote!(const _: () = { #(#checks)* };)
    };
    quote! {
        || {
            #checks
            // Every value was range-checked when the macro expanded (and above, at compile
            // time), so `build` cannot fail; the fallback only keeps this path panic-free.
            ::breakerbox::Config::builder() #(#calls)* .build().unwrap_or_default()
        }
    }
}
