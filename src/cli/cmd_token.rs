//! `jingtu token create|revoke|list --store FILE.gpkg`: the API tokens of `jingtu serve`.

use std::path::Path;

use super::Outcome;
use super::args::{TokenAction, TokenArgs};
use crate::error::Error;
use crate::store::Store;
use crate::store::tokens::Scope;

fn open(store: &Path) -> anyhow::Result<Store> {
    // Tokens belong to a store a scan made: creating one must not leave a new empty store behind a typo.
    if !store.is_file() {
        return Err(Error::input(store, "no such store").into());
    }
    Ok(Store::open(Some(store))?)
}

pub fn run(args: &TokenArgs) -> anyhow::Result<Outcome> {
    match &args.action {
        TokenAction::Create { store, scope, name, common } => {
            let scope = Scope::parse(scope)
                .ok_or_else(|| Error::Usage(format!("--scope: '{scope}' is not a scope (read, review)")))?;
            let token = open(store)?.create_token(name, scope)?;
            if common.json {
                println!(
                    "{}",
                    serde_json::json!({ "event": "summary", "name": name.trim(), "scope": scope.name(), "token": token })
                );
            } else {
                println!("{token}");
                if !common.quiet {
                    eprintln!(
                        "jingtu: token '{}' ({}) created; it is shown only now: keep it, the store holds only its hash",
                        name.trim(),
                        scope.name()
                    );
                }
            }
        }
        TokenAction::Revoke { store, name, common } => {
            if !open(store)?.revoke_token(name)? {
                return Err(Error::Usage(format!("no live token named '{name}' in {}", store.display())).into());
            }
            if !common.quiet {
                eprintln!("jingtu: token '{name}' revoked");
            }
        }
        TokenAction::List { store, common } => {
            let tokens = open(store)?.tokens()?;
            if common.json {
                for t in &tokens {
                    println!("{}", serde_json::to_string(t).unwrap_or_default());
                }
            } else {
                for t in &tokens {
                    let state =
                        t.revoked_at.as_deref().map(|r| format!("revoked {r}")).unwrap_or_else(|| "live".into());
                    println!("{}\t{}\tcreated {}\t{state}", t.name, t.scope, t.created_at);
                }
            }
        }
    }
    Ok(Outcome::Done)
}
