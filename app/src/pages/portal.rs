//! The patient portal (`/portal`): a CloudCGM patient signs in and sees the sharing code to read aloud to
//! their clinician, makes a new one (which ends the old one) or revokes it. The code is single use and
//! expires; the page says until when.

use crate::api::{portal_state, PortalNewCode, PortalRevokeCode, PortalSignIn, PortalSignOut};
use crate::components::error_box::{error_message, ErrorBox};
use crate::views::PortalView;
use leptos::prelude::*;

#[component]
pub fn PortalPage() -> impl IntoView {
    let sign_in = ServerAction::<PortalSignIn>::new();
    let sign_out = ServerAction::<PortalSignOut>::new();
    let new_code = ServerAction::<PortalNewCode>::new();
    let revoke = ServerAction::<PortalRevokeCode>::new();
    let state = Resource::new(
        move || {
            (
                sign_in.version().get(),
                sign_out.version().get(),
                new_code.version().get(),
                revoke.version().get(),
            )
        },
        |_| portal_state(),
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match state.await {
                    Ok(None) => view! { <SignIn sign_in/> }.into_any(),
                    Ok(Some(v)) => view! { <Portal view=v sign_out new_code revoke/> }.into_any(),
                    Err(e) => view! { <ErrorBox title="The portal is not available" message=error_message(&e)/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SignIn(sign_in: ServerAction<PortalSignIn>) -> impl IntoView {
    view! {
        <section class="panel portal" aria-labelledby="portal-h">
            <h1 id="portal-h">"Your CloudCGM account"</h1>
            <p>"Sign in to share your glucose data with your clinic."</p>
            <ActionForm action=sign_in attr:class="sign-in">
                <label>"Username " <input name="username" autocomplete="username" required data-testid="username"/></label>
                <label>"Password " <input name="password" type="password" autocomplete="current-password" required data-testid="password"/></label>
                <button type="submit" class="btn primary" data-testid="sign-in">"Sign in"</button>
            </ActionForm>
            {move || sign_in.value().get().and_then(|r| r.err()).map(|e| view! {
                <ErrorBox title="You are not signed in" message=error_message(&e)/>
            })}
        </section>
    }
}

#[component]
fn Portal(
    view: PortalView,
    sign_out: ServerAction<PortalSignOut>,
    new_code: ServerAction<PortalNewCode>,
    revoke: ServerAction<PortalRevokeCode>,
) -> impl IntoView {
    let code = match view.code.filter(|c| c.status == "active") {
        Some(c) => view! {
            <p>"Read this code to your clinician when they ask for it in their EHR:"</p>
            <p class="sharing-code" data-testid="sharing-code" aria-label="Sharing code">{c.code.clone()}</p>
            <p class="hint">{format!("Valid until {} and for one use only.", c.expires_at)}</p>
            <ActionForm action=revoke>
                <button type="submit" class="btn" data-testid="revoke-code">"Revoke this code"</button>
            </ActionForm>
        }
        .into_any(),
        None => view! {
            <p data-testid="no-code">"You have no active sharing code."</p>
        }
        .into_any(),
    };
    view! {
        <section class="panel portal" aria-labelledby="portal-h">
            <h1 id="portal-h">{format!("Hello, {}", view.name)}</h1>
            <h2>"Sharing code"</h2>
            {code}
            <ActionForm action=new_code>
                <button type="submit" class="btn primary" data-testid="new-code">
                    {format!("Make a new code (valid {} hours)", view.code_ttl_hours)}
                </button>
            </ActionForm>
            {move || new_code.value().get().and_then(|r| r.err()).map(|e| view! {
                <ErrorBox title="No new code was made" message=error_message(&e)/>
            })}
            <ActionForm action=sign_out>
                <button type="submit" class="btn" data-testid="sign-out">"Sign out"</button>
            </ActionForm>
        </section>
    }
}
