//! The rewrite of the function: checks its signature, then wraps its body.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    parse_quote, GenericArgument, ItemFn, PathArguments, ReturnType, Signature, Type, TypeInfer,
    TypePath,
};

use crate::args::{Args, Setting, Value};
use crate::settings::{Call, Kind, Slot, Unit};

/// The `T` and `E` of a return type written `Result<T, E>` (any path ending in `Result`).
struct ResultParts {
    /// The return type as written, for the inner body's annotation; an `impl Trait` in `T`
    /// becomes `_` there (a closure's return type and a `let` cannot name it; inference
    /// finds the concrete type).
    original: Type,
    /// The return type with `E` replaced by `::breakerbox::Error<E>`.
    wrapped: Type,
}

/// Rewrites `item` so its body runs through the breaker that `args` names.
pub(crate) fn expand(args: &Args, mut item: ItemFn) -> syn::Result<TokenStream> {
    check_signature(&item.sig)?;
    let krate = args.krate();
    let parts = result_parts(&item.sig, &krate)?;

    let name = &args.name;
    let make_config = make_config(args, &krate);
    // Hygienic local: cannot clash with (or be seen by) the user's identifiers.
    let breaker = format_ident!("__breakerbox_breaker", span = Span::mixed_site());
    let original = &parts.original;
    let block = &item.block;
    let stmts = &item.block.stmts;

    // The breaker is looked up in the global registry once per function and kept in a
    // static: later calls read one `OnceLock` instead of cloning (and dropping) the `Arc`,
    // two read-modify-writes on a reference count that every calling core would share.
    let lookup = quote! {
        let #breaker: &'static #krate::CircuitBreaker = {
            static __BREAKERBOX_BREAKER: ::std::sync::OnceLock<
                ::std::sync::Arc<#krate::CircuitBreaker>,
            > = ::std::sync::OnceLock::new();
            __BREAKERBOX_BREAKER.get_or_init(|| {
                #krate::Registry::global().get_or_create_with(#name, #make_config)
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
fn result_parts(sig: &Signature, krate: &TokenStream) -> syn::Result<ResultParts> {
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
    let mut impls = ImplToInfer::default();
    impls.visit_type_mut(&mut e.clone());
    if let Some(span) = impls.first {
        return Err(syn::Error::new(
            span,
            "#[circuit_breaker] needs the error type named: `impl Trait` in the `E` of \
             `Result<T, E>` cannot be wrapped in `breakerbox::Error<E>` (the body's `?` and \
             `Err(..)` need a concrete type); write the type, or box it \
             (`Box<dyn std::error::Error + Send + Sync>`)",
        ));
    }
    // `Result<impl Trait, E>`: the outer signature keeps `impl Trait`; the body's own
    // annotation gets `_` instead (rustc's E0562 otherwise).
    let mut original = ty.clone();
    ImplToInfer::default().visit_type_mut(&mut original);
    // Keep the user's own path to `Result` (`std::result::Result`, `anyhow::Result`, ...).
    let mut wrapped_path = path.clone();
    if let Some(seg) = wrapped_path.segments.last_mut() {
        let e_span = e.span();
        seg.arguments =
            PathArguments::AngleBracketed(parse_quote_spanned_args(t, e, e_span, krate));
    }
    Ok(ResultParts {
        original,
        wrapped: Type::Path(TypePath {
            qself: None,
            path: wrapped_path,
        }),
    })
}

/// `<T, ::breakerbox::Error<E>>`, the wrapper spanned on `E` so type errors point there.
fn parse_quote_spanned_args(
    t: &Type,
    e: &Type,
    span: Span,
    krate: &TokenStream,
) -> syn::AngleBracketedGenericArguments {
    let wrapped_e = quote_spanned!(span=> #krate::Error<#e>);
    parse_quote!(<#t, #wrapped_e>)
}

/// Replaces every `impl Trait` in a type with `_`, remembering where the first one was.
#[derive(Default)]
struct ImplToInfer {
    first: Option<Span>,
}

impl VisitMut for ImplToInfer {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(it) = ty {
            self.first.get_or_insert_with(|| it.span());
            *ty = Type::Infer(TypeInfer {
                underscore_token: Default::default(),
            });
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

/// One value as an expression of the type its builder call takes: a `u32` count, a
/// `Duration`, an `f64` percentage or factor, a `bool`.
fn value_tokens(setting: &Setting) -> TokenStream {
    match (setting.spec.kind, setting.value) {
        (Kind::Duration { unit, .. }, Value::Int(n)) => match unit {
            Unit::Secs => quote!(::core::time::Duration::from_secs(#n)),
            Unit::Ms => quote!(::core::time::Duration::from_millis(#n)),
        },
        (_, Value::Int(n)) => {
            // A count: at most `MAX_WINDOW_CALLS`, checked by `args`.
            let n = Literal::u32_suffixed(u32::try_from(n).unwrap_or(u32::MAX));
            quote!(#n)
        }
        (_, Value::Float(x)) => {
            // Finite, checked by `args`.
            let x = Literal::f64_suffixed(x);
            quote!(#x)
        }
        (_, Value::Bool(b)) => quote!(#b),
    }
}

/// The closure that builds the breaker's `Config` from the settings given: each row's
/// `Call` in the builder chain, and a `const` re-check of each value against the crate's
/// constant for its `Bound`.
fn make_config(args: &Args, krate: &TokenStream) -> TokenStream {
    let mut calls = Vec::new();
    let mut checks = Vec::new();
    for setting in &args.settings {
        let v = value_tokens(setting);
        match setting.spec.call {
            Call::Method(method) => {
                let method = format_ident!("{}", method);
                calls.push(quote!(.#method(#v)));
            }
            Call::WindowCalls => {
                calls.push(quote!(.sliding_window(#krate::Window::Calls(#v))));
            }
            Call::WindowTime => calls.push(quote!(.sliding_window(#krate::Window::Time(#v)))),
            // Both halves are there (`requires`); emitted once, below.
            Call::BackoffMultiplier | Call::BackoffMax => {}
        }
        let key = setting.spec.key;
        let (value, min, max) = match setting.spec.kind {
            Kind::Count { max } => (v.clone(), None, max),
            Kind::Duration { min, max, .. } => (quote!(#v.as_nanos()), min, max),
            Kind::Percent | Kind::Factor | Kind::Flag => continue,
        };
        for (bound, op) in [(min, quote!(>=)), (Some(max), quote!(<=))] {
            let Some(bound) = bound else { continue };
            let limit = bound.constant(krate);
            let message = format!(
                "breakerbox: the macro's limit for `{key}` disagrees with the crate's \
                 Config::{} (breakerbox-macros and breakerbox versions differ?)",
                bound.constant_name()
            );
            checks.push(quote!(::core::assert!(#value #op #limit, #message);));
        }
    }
    if let (Some(m), Some(max)) = (
        args.get(Slot::BackoffMultiplier),
        args.get(Slot::BackoffMax),
    ) {
        let (m, max) = (value_tokens(m), value_tokens(max));
        calls.push(quote!(.backoff(#krate::Backoff::exponential(#m, #max))));
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
            // time), so `build` cannot fail.
            match #krate::Config::builder() #(#calls)* .build() {
                ::core::result::Result::Ok(config) => config,
                ::core::result::Result::Err(e) => ::core::panic!(
                    "breakerbox: #[circuit_breaker] accepted a setting that \
                     Config::builder().build() rejects (a bug in breakerbox-macros): {}",
                    e
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bounded_value_is_rechecked_against_the_crates_constant() {
        let args: Args = syn::parse2(quote!(
            "x",
            window_ms = 1000,
            failure_threshold = 3,
            minimum_calls = 7,
            slow_call_secs = 2,
            failure_rate = 50,
            crate = ::sdk::bb
        ))
        .unwrap();
        let out = make_config(&args, &args.krate()).to_string();
        for name in [
            "MIN_WINDOW_TIME",
            "MAX_WINDOW_TIME",
            "MAX_THRESHOLD",
            "MAX_WINDOW_CALLS",
            "MAX_DURATION",
        ] {
            let constant = format!(":: sdk :: bb :: Config :: {name}");
            assert!(out.contains(&constant), "no check against {name}: {out}");
        }
        assert!(out.contains("const _ : () ="), "{out}");
        assert!(out.contains(". failure_rate_threshold (50f64)"), "{out}");
        assert!(
            out.contains(". sliding_window (:: sdk :: bb :: Window :: Time"),
            "{out}"
        );
        assert!(
            !out.contains("breakerbox ::"),
            "the crate path is used: {out}"
        );
    }

    #[test]
    fn impl_trait_in_t_becomes_inferred_in_the_body_only() {
        let sig: Signature = syn::parse_quote!(fn f() -> Result<Vec<impl Clone>, E>);
        let parts = result_parts(&sig, &quote!(::breakerbox)).unwrap();
        let original = &parts.original;
        let wrapped = &parts.wrapped;
        assert_eq!(quote!(#original).to_string(), "Result < Vec < _ > , E >");
        assert_eq!(
            quote!(#wrapped).to_string(),
            "Result < Vec < impl Clone > , :: breakerbox :: Error < E > >"
        );
        let sig: Signature = syn::parse_quote!(fn f() -> Result<u8, Box<impl Clone>>);
        let e = result_parts(&sig, &quote!(::breakerbox)).err().unwrap();
        assert!(e.to_string().contains("needs the error type named"), "{e}");
    }
}
