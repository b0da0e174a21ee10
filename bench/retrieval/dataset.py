"""The labelled retrieval set: CRM, marketing, sales and support memories an agent might keep.

Each entry of PAIRS is (stored memory, query). The query restates what the memory says in
other words — different vocabulary and sentence structure, the way an agent would ask for it
while working on a task — and is meant to match exactly that one memory. DISTRACTORS are
stored too but never asked for: they sit close to some memories in topic and wording, so
retrieval has to tell near neighbours apart. Written by hand for this bench; no text comes
from elsewhere.
"""

# ruff: noqa: E501  (the memories and queries are kept one per line, unbroken)

from __future__ import annotations

PAIRS: list[tuple[str, str]] = [
    # --- sales: accounts and deals ------------------------------------------------------------
    (
        "Acme Logistics only signs contracts at the end of their fiscal quarter in March.",
        "When in the year does Acme Logistics usually put pen to paper on a deal?",
    ),
    (
        "The CFO at Brightwave Media must approve any discount above 15 percent.",
        "Who has to sign off when we give Brightwave a price cut bigger than fifteen percent?",
    ),
    (
        "Northwind Foods prefers a phone call over email for anything about renewals.",
        "What channel does Northwind want us to use when talking about extending their contract?",
    ),
    (
        "Procurement at Helios Energy requires three competing quotes before any purchase.",
        "Helios buying process: how many rival offers do they need to see first?",
    ),
    (
        "Deals with hospitals stall when the security questionnaire is sent late; send it in week one.",
        "How do we stop healthcare opportunities from dragging on because of the infosec review?",
    ),
    (
        "Mentioning the SOC 2 report early shortens enterprise sales cycles by about two weeks.",
        "Does bringing up our compliance audit at the start make big-company deals close faster?",
    ),
    (
        "Quantum Retail's champion, Dana, left the company in June; the new contact is Priya in ops.",
        "Our internal advocate at Quantum Retail is gone, who should we talk to now?",
    ),
    (
        "Multi-year prepaid contracts get an extra 5 percent off, but only with finance approval.",
        "Can a customer paying several years upfront get a further price reduction?",
    ),
    (
        "Prospects in the legal sector ask for on-premises deployment in almost every first call.",
        "What do law firms nearly always want to know about hosting when we first meet them?",
    ),
    (
        "Pilot programs longer than 30 days rarely convert; keep trials to four weeks.",
        "How long should a proof of concept run if we want it to turn into a paying customer?",
    ),
    (
        "Orion Bank's fiscal year starts in October, so budget for new tools is set in August.",
        "When does Orion Bank decide how much money it will spend on software next year?",
    ),
    (
        "Small agencies churn in the first 90 days unless someone helps them import their contacts.",
        "Why do little marketing shops cancel within their first three months?",
    ),
    (
        "The best time to reach retail store managers by phone is Tuesday before 10 am.",
        "When are shop managers most likely to pick up if we ring them?",
    ),
    (
        "Greenfield Farms wants invoices in euros even though their contract is in dollars.",
        "What currency should billing documents for Greenfield be issued in?",
    ),
    (
        "Referral leads from existing customers close at roughly twice the rate of cold leads.",
        "Do prospects introduced by our clients convert better than outbound ones?",
    ),
    (
        "Vertex Pharma's legal team takes about six weeks to review a master services agreement.",
        "How much time should we plan for Vertex lawyers to go through the MSA?",
    ),
    (
        "Never schedule demos with Japanese prospects during Golden Week at the start of May.",
        "Is there a holiday period in Japan when we should avoid booking product walkthroughs?",
    ),
    (
        "Competitor Zenith undercuts our price by 20 percent but lacks an audit log.",
        "How do we position against Zenith when they come in much cheaper?",
    ),
    (
        "Startups under 20 employees almost always choose the monthly plan over annual billing.",
        "Which payment cadence do very small young companies tend to pick?",
    ),
    (
        "The Blue Harbor account is owned by Marco; any outreach there goes through him first.",
        "Who needs to be consulted before anyone contacts Blue Harbor?",
    ),
    (
        "Deals that include a named executive sponsor close 30 percent faster.",
        "Does having a senior leader backing the purchase speed up closing?",
    ),
    (
        "Tellus Insurance requires all vendors to carry cyber liability insurance of 5 million.",
        "What coverage does Tellus demand from suppliers against data breach claims?",
    ),
    (
        "When a prospect asks for a reference customer, offer one from the same industry.",
        "If a buyer wants to speak with an existing client, whom should we connect them with?",
    ),
    (
        "Upsell conversations go better after the quarterly business review, not before.",
        "What's the right moment to pitch an upgrade to a current customer?",
    ),
    (
        "Municipal governments buy through public tenders published on their procurement portal.",
        "How do city councils purchase software?",
    ),
    (
        "The Redwood Clinics deal is blocked until their new CIO starts in September.",
        "What is holding up the Redwood Clinics opportunity?",
    ),
    (
        "Prospects from manufacturing care most about integration with their ERP system.",
        "What's the top technical concern for factories evaluating us?",
    ),
    (
        "Sending the pricing page before the discovery call lowers the win rate.",
        "Should we share what we charge before we've had a first conversation to learn their needs?",
    ),
    (
        "Lumen Hotels negotiates hard on price but never asks for contract changes.",
        "What's Lumen's negotiation style: do they push on terms or on cost?",
    ),
    (
        "Deals over 100k require a mutual action plan signed by both sides.",
        "What document do we need for six-figure opportunities?",
    ),
    # --- sales: calls and objections ----------------------------------------------------------
    (
        "When a prospect says the price is too high, ask what they are comparing it to.",
        "How should I respond if a buyer complains we're too expensive?",
    ),
    (
        "If the buyer says 'we already have a tool for that', ask what it fails to do today.",
        "A lead claims their existing software covers this; what's the follow-up question?",
    ),
    (
        "'Not the right time' usually means no budget; ask when their planning cycle begins.",
        "A prospect tells me now isn't a good moment. What's usually behind that?",
    ),
    (
        "Security objections are best handled by offering a call with our security engineer.",
        "Who should join when a customer has concerns about how safe our platform is?",
    ),
    (
        "Buyers worried about switching costs respond well to the free migration offer.",
        "What can we propose to someone afraid moving from their current vendor will be painful?",
    ),
    (
        "When asked about roadmap dates, never promise a release; say 'targeted for' instead.",
        "How do I answer if someone wants to know exactly when a future feature ships?",
    ),
    (
        "Prospects who bring their IT lead to the second call are three times more likely to buy.",
        "Is it a good sign when technical staff show up to the follow-up meeting?",
    ),
    (
        "Keep discovery calls to 30 minutes; longer ones do not improve qualification.",
        "What's the ideal length of the first exploratory meeting with a lead?",
    ),
    (
        "Ask about the decision process in the first call: who signs, who can block, and by when.",
        "Early in a deal, what should I find out about how the buying decision gets made?",
    ),
    (
        "The 'we need to think about it' objection is best met by scheduling the next step on the spot.",
        "When a buyer wants time to reflect, how do I keep momentum?",
    ),
    (
        "Cold emails with a single clear question get more replies than ones with a meeting link.",
        "Which kind of first outreach message earns more responses?",
    ),
    (
        "Voicemails longer than 20 seconds are almost never returned.",
        "How long should a phone message left for a prospect be?",
    ),
    (
        "Champions need a one-page business case they can forward to their boss.",
        "What should I give my internal supporter so they can sell us upward?",
    ),
    (
        "Prospects in Germany expect a formal written offer before any price negotiation.",
        "In Germany, what needs to be sent before haggling over cost can begin?",
    ),
    (
        "When a deal goes silent for two weeks, send a short breakup email; it revives a third of them.",
        "A prospect has gone dark for a fortnight. What message tends to bring them back?",
    ),
    # --- marketing ----------------------------------------------------------------------------
    (
        "Email subject lines with a number get 12 percent higher open rates in our newsletter.",
        "Do digits in the headline of our mailing make more people read it?",
    ),
    (
        "Webinars on Thursdays at 11 am Eastern have the best attendance.",
        "Which day and hour bring the biggest live audience to our online seminars?",
    ),
    (
        "LinkedIn ads outperform Facebook ads for IT director personas by cost per lead.",
        "Where is it cheaper to acquire leads among heads of technology?",
    ),
    (
        "The case study with Northwind drove more demo requests than any blog post this year.",
        "Which piece of content generated the most requests to see the product?",
    ),
    (
        "Gated ebooks convert poorly for developers; they prefer ungated documentation.",
        "Should we put a signup form in front of content aimed at engineers?",
    ),
    (
        "Retargeting visitors of the pricing page yields the highest return on ad spend.",
        "Which website audience is most profitable to show follow-up ads to?",
    ),
    (
        "Our brand voice avoids exclamation marks and the word 'revolutionary'.",
        "What stylistic things should our copy stay away from?",
    ),
    (
        "Trade show leads go cold within a week unless sales follows up within 48 hours.",
        "How quickly must reps contact people we met at an expo?",
    ),
    (
        "The nurture sequence performs best with five emails spaced four days apart.",
        "How many messages and what gap between them work for our drip campaign?",
    ),
    (
        "Video testimonials under 90 seconds get watched to the end twice as often.",
        "What's the right length for customer endorsement clips?",
    ),
    (
        "Campaigns mentioning GDPR compliance perform well with European prospects.",
        "What message resonates with leads based in the EU?",
    ),
    (
        "Unsubscribe rates spike when we send more than one promotional email per week.",
        "What sending frequency makes people opt out of our marketing mail?",
    ),
    (
        "Personalizing the first line with the company name raises reply rates by 8 percent.",
        "Does mentioning the recipient's organisation at the start of an outreach email help?",
    ),
    (
        "Organic search brings the most signups for the keyword 'customer feedback software'.",
        "Which search phrase drives the largest number of free registrations?",
    ),
    (
        "The spring product launch must not be announced before the partner briefing on April 3.",
        "Is there anything we need to do before going public with the new release in spring?",
    ),
    (
        "Our persona 'Operations Olivia' cares about saving time, not about AI features.",
        "What does the ops-manager buyer profile value most?",
    ),
    (
        "Podcast sponsorships generated awareness but almost no trackable pipeline.",
        "Did paying to be mentioned on audio shows produce measurable sales opportunities?",
    ),
    (
        "A/B test: green call-to-action buttons did not beat blue ones; keep the brand blue.",
        "Did changing the colour of the signup button make a difference?",
    ),
    (
        "Partner co-marketing webinars bring leads with twice the average deal size.",
        "Are joint events with our resellers worth it in terms of opportunity value?",
    ),
    (
        "Landing pages with a customer logo strip convert 15 percent better.",
        "Does showing which companies use us on a campaign page raise conversions?",
    ),
    (
        "Don't use the term 'cheap' in any campaign; say 'affordable' or 'cost-effective'.",
        "What word should we avoid when describing our low price in ads?",
    ),
    (
        "SMS campaigns to retail customers are only allowed with explicit opt-in.",
        "Can we text shoppers promotions without their prior consent?",
    ),
    (
        "Holiday season campaigns should launch by mid-November to avoid ad cost spikes.",
        "When do we need our end-of-year promotions running so ads don't get too pricey?",
    ),
    (
        "The 'Segment: mid-market SaaS' audience responds best to ROI calculators.",
        "What marketing asset works best for medium-sized software companies?",
    ),
    (
        "Influencer posts on Instagram did not reach our B2B audience; stop that channel.",
        "Should we keep paying social media personalities to promote us?",
    ),
    (
        "Newsletter readers click most on product tips, least on company news.",
        "What kind of mailing content gets the most engagement from subscribers?",
    ),
    (
        "Every public claim about performance must link to the benchmark page.",
        "What must accompany any statement we publish about how fast the product is?",
    ),
    (
        "Event booth staff should scan badges only after a real conversation, not at random.",
        "What's the rule for collecting attendee details at conferences?",
    ),
    (
        "French-language campaigns need review by the Paris office before launch.",
        "Who checks marketing material written in French before it goes out?",
    ),
    (
        "The free trial signup form converts best with only three fields.",
        "How long should the registration form for the trial be?",
    ),
    # --- support ------------------------------------------------------------------------------
    (
        "Password reset emails land in spam for customers using Outlook with strict filtering.",
        "Why might a user on Microsoft's mail client never see the link to change their login?",
    ),
    (
        "Customers on the legacy plan cannot use SSO; they must upgrade to Business.",
        "Why can't an old-tier account sign in with their corporate identity provider?",
    ),
    (
        "Export jobs larger than 1 million rows time out; advise splitting by date range.",
        "A huge data download keeps failing. What's the workaround?",
    ),
    (
        "The mobile app crashes on Android 11 when the camera permission is denied.",
        "What makes the phone application close unexpectedly on older Android devices?",
    ),
    (
        "Refunds within 30 days of purchase can be approved by any support agent.",
        "Can a frontline rep give someone their money back if they bought last week?",
    ),
    (
        "Angry customers calm down faster when we restate their problem before offering a fix.",
        "How do I de-escalate an upset caller?",
    ),
    (
        "Tickets mentioning 'data loss' must be escalated to engineering within one hour.",
        "What's the urgency rule when a client reports that records disappeared?",
    ),
    (
        "The CSV importer rejects files saved with a UTF-16 encoding.",
        "Why does uploading a spreadsheet export fail with a format error?",
    ),
    (
        "Customers in Australia get phone support from the Sydney team between 8 am and 6 pm local time.",
        "Who handles calls from Australian clients and during what hours?",
    ),
    (
        "Two-factor codes fail when the phone clock is out of sync; ask them to enable automatic time.",
        "A user's one-time login codes keep being rejected. What should they check on their device?",
    ),
    (
        "Enterprise customers have a 4-hour first-response SLA for priority-one tickets.",
        "How fast must we answer a critical issue from a large account?",
    ),
    (
        "Duplicate contacts appear when the Salesforce sync and the CSV import run on the same day.",
        "What causes the same person to show up twice in the address book?",
    ),
    (
        "Customers can recover deleted workspaces for 14 days from the admin settings.",
        "Is there a way to bring back a removed workspace, and for how long?",
    ),
    (
        "The browser extension conflicts with ad blockers; whitelisting our domain fixes it.",
        "Our plugin stops working for a user who blocks advertisements. How do we solve it?",
    ),
    (
        "Webhook deliveries are retried five times over 24 hours before being dropped.",
        "What happens when our outgoing event notifications can't reach the customer's server?",
    ),
    (
        "Billing questions go to the finance queue, not to technical support.",
        "Where should I route a ticket about an invoice?",
    ),
    (
        "Users who can't see the reports tab usually lack the Analyst role.",
        "Someone says the analytics section is missing from their menu. What's the likely cause?",
    ),
    (
        "Email notifications are delayed up to 15 minutes during nightly maintenance at 2 am UTC.",
        "Why do alerts sometimes arrive late in the middle of the night?",
    ),
    (
        "For GDPR deletion requests, confirm identity by email before erasing anything.",
        "What must happen before we remove a person's data at their request under European privacy law?",
    ),
    (
        "Customers on the free plan get community forum support only, no live chat.",
        "Which help channels are available to non-paying users?",
    ),
    (
        "When the dashboard shows zero data, the tracking snippet is usually installed twice.",
        "Analytics are blank for a customer; what is the most common reason?",
    ),
    (
        "The API rate limit is 600 requests per minute per token; 429 errors mean they hit it.",
        "A developer keeps getting 'too many requests'. What is our threshold?",
    ),
    (
        "Offer a service credit, not a refund, for outages shorter than four hours.",
        "How do we compensate customers after a brief downtime?",
    ),
    (
        "Customers often confuse 'archive' with 'delete'; explain that archived items can be restored.",
        "A user panics thinking they destroyed records they merely put away. What do we tell them?",
    ),
    (
        "Single sign-on with Okta fails if the user's email differs in case from the one on file.",
        "Why can't someone log in through their identity provider when uppercase letters differ?",
    ),
    (
        "Chat support is staffed 24/7 in English but only business hours in Spanish.",
        "When can customers get help in Spanish over live chat?",
    ),
    (
        "Printing invoices from Safari cuts off the last page; suggest Chrome or downloading the PDF.",
        "A customer's bill printout is missing its final sheet on Apple's browser. What's the fix?",
    ),
    (
        "Support agents may extend a trial by up to 14 days without manager approval.",
        "How much extra evaluation time can a rep grant on their own?",
    ),
    (
        "Tickets tagged 'VIP' are routed to the senior support pod automatically.",
        "Where do requests from our most important customers end up?",
    ),
    (
        "Calendar sync with Google stops after the user changes their Google password.",
        "Why would meetings stop appearing after someone updates their Gmail credentials?",
    ),
    # --- customer success and account context -------------------------------------------------
    (
        "Brightwave Media's team uses the product mainly for campaign approvals, not reporting.",
        "What does Brightwave actually rely on our platform for day to day?",
    ),
    (
        "Northwind Foods has 40 seats but only 12 weekly active users; adoption risk.",
        "Is Northwind actually using all the licences they pay for?",
    ),
    (
        "Helios Energy's admin prefers release notes as a monthly PDF digest.",
        "How does the Helios administrator like to receive information about product updates?",
    ),
    (
        "Quarterly business reviews with Orion Bank must include their compliance officer.",
        "Who from Orion needs to be in the room for our periodic account review?",
    ),
    (
        "Quantum Retail expands seats every November ahead of the holiday rush.",
        "When does Quantum Retail typically add more user licences?",
    ),
    (
        "Customers who complete onboarding training in week one renew at 92 percent.",
        "Does finishing the initial training early correlate with staying on as a customer?",
    ),
    (
        "Lumen Hotels threatened to churn over slow support response in Q2; they are watching closely.",
        "Is there any retention risk at Lumen, and why?",
    ),
    (
        "Vertex Pharma requires all data to stay in the EU region.",
        "Where must Vertex's information be hosted?",
    ),
    (
        "Greenfield Farms' main user, Tom, is not technical; avoid jargon with him.",
        "How should I communicate with Greenfield's primary contact?",
    ),
    (
        "Blue Harbor uses our API heavily from their warehouse system; breaking changes hurt them most.",
        "Which account would suffer most if we changed the interface contract of our developer endpoints?",
    ),
    (
        "Tellus Insurance's renewal date is 1 February and they want the quote by 1 December.",
        "When should the Tellus renewal offer be in their hands?",
    ),
    (
        "Redwood Clinics asked for a HIPAA business associate agreement before go-live.",
        "What healthcare compliance paperwork does Redwood need from us before launch?",
    ),
    (
        "Health scores drop sharply when a customer's admin leaves; reach out within a week.",
        "What should we do when the main administrator at a client departs?",
    ),
    (
        "Customers with more than three integrations almost never churn.",
        "Are clients that connect many other tools to us less likely to leave?",
    ),
    (
        "Acme Logistics prefers Slack Connect for day-to-day questions.",
        "What's the best way to chat with Acme about routine matters?",
    ),
    (
        "NPS detractors who get a personal call within 48 hours often become passives or promoters.",
        "How can we turn unhappy survey respondents around?",
    ),
    (
        "The Orion Bank pilot team is in Lisbon and works in Portuguese.",
        "Which language does Orion's trial group use?",
    ),
    (
        "Mid-market customers value a named account manager more than extra features.",
        "What matters more to medium-sized clients than additional functionality?",
    ),
    (
        "Helios Energy wants usage reports broken down by department.",
        "How does Helios want its consumption statistics segmented?",
    ),
    (
        "Brightwave renewed early last year in exchange for a case study.",
        "What did Brightwave give us in return for the early-renewal terms?",
    ),
    # --- product feedback, pricing, operations -----------------------------------------------
    (
        "The most requested feature from retail customers is offline mode for the mobile app.",
        "What capability do shop chains ask for most often?",
    ),
    (
        "Annual plans are priced at ten months of the monthly price.",
        "How much cheaper is paying yearly compared with monthly?",
    ),
    (
        "Customers on the Pro tier can add up to five custom fields per object.",
        "How many user-defined attributes can mid-tier subscribers create on a record?",
    ),
    (
        "Enterprise contracts include a dedicated sandbox environment at no extra cost.",
        "Do large customers get a separate test instance included?",
    ),
    (
        "Nonprofits receive a 30 percent discount on any paid plan with proof of status.",
        "What pricing do charities get?",
    ),
    (
        "Price increases must be announced to customers at least 60 days in advance.",
        "How much notice do we owe clients before raising what we charge?",
    ),
    (
        "Education customers are billed per campus, not per user.",
        "How do we charge schools and universities?",
    ),
    (
        "Users repeatedly complain that the search bar ignores accented characters.",
        "What's the recurring grumble about looking things up with diacritics?",
    ),
    (
        "Dark mode was the most upvoted idea on the feedback board last quarter.",
        "Which suggestion got the most votes from users recently?",
    ),
    (
        "Customers dislike being forced to re-login every eight hours; session length is a top complaint.",
        "What annoys users about how often they get signed out?",
    ),
    (
        "The onboarding checklist was shortened from twelve steps to five, doubling completion.",
        "What happened when we trimmed the setup guide for new accounts?",
    ),
    (
        "Admins want bulk edit for user roles; they currently change them one by one.",
        "What do administrators wish they could do with permissions for many people at once?",
    ),
    (
        "Sales tax is not charged to customers in Oregon, Montana, Delaware, New Hampshire or Alaska.",
        "Which US states are exempt from sales tax on our invoices?",
    ),
    (
        "Payment by wire transfer is only available for annual contracts above 10k.",
        "When can a customer pay by bank transfer instead of card?",
    ),
    (
        "Failed card payments are retried on days 3, 5 and 7 before the account is suspended.",
        "What happens after a customer's credit card charge is declined?",
    ),
    # --- agent behaviour preferences and coaching --------------------------------------------
    (
        "Always summarize a ticket thread in three bullet points before handing it to a human.",
        "How should an escalation to a person be written up?",
    ),
    (
        "Sign support emails with the team name, never with an individual agent's name.",
        "What signature goes at the bottom of help desk replies?",
    ),
    (
        "Do not offer discounts proactively; wait for the customer to raise price.",
        "Should the assistant bring up lower pricing before the buyer asks?",
    ),
    (
        "Use the customer's first name only after they have used ours.",
        "When is it okay to address a client informally?",
    ),
    (
        "Replies to enterprise customers should be formal and avoid emoji.",
        "What tone fits messages to our biggest accounts?",
    ),
    (
        "When unsure about a legal question, route the customer to legal@ rather than guessing.",
        "What should an agent do with a contractual question it cannot answer confidently?",
    ),
    (
        "Log every call outcome in the CRM within the same day.",
        "How soon after a phone conversation must the results be recorded in our system?",
    ),
    (
        "Meeting follow-up emails should list agreed next steps with owners and dates.",
        "What belongs in the recap we send after a meeting?",
    ),
    (
        "Never share another customer's name as a reference without their written consent.",
        "Can we tell a prospect which other companies buy from us?",
    ),
    (
        "Quote prices in the customer's local currency whenever we support it.",
        "In which currency should offers be presented?",
    ),
    (
        "Keep chat replies under 80 words; link to documentation for details.",
        "How long should a live chat answer be?",
    ),
    (
        "In outbound sequences, stop after the sixth touch with no response.",
        "How many unanswered attempts before we give up on a lead?",
    ),
    (
        "Always confirm the time zone when proposing a meeting time.",
        "What detail must be made explicit when suggesting when to meet?",
    ),
    (
        "Coaching: acknowledge the customer's frustration before explaining policy.",
        "What should come first when a customer is annoyed and we have to cite a rule?",
    ),
    (
        "Coaching: ask open questions in discovery instead of yes-or-no questions.",
        "What style of questions gives better results when exploring a prospect's needs?",
    ),
    # --- segments, personas, channels ---------------------------------------------------------
    (
        "The healthcare segment responds to messaging about patient privacy, not productivity.",
        "Which theme lands with medical organisations?",
    ),
    (
        "Persona 'Finance Frank' wants a clear ROI figure in the first meeting.",
        "What does the budget-holder persona expect to see right away?",
    ),
    (
        "The e-commerce segment churns in January after the holiday season ends.",
        "When do online shops tend to cancel?",
    ),
    (
        "WhatsApp is the preferred support channel for customers in Brazil.",
        "Which messaging app do Brazilian clients want to use to get help?",
    ),
    (
        "The agency segment buys through a partner reseller in 60 percent of deals.",
        "How do creative firms usually purchase from us?",
    ),
    (
        "Persona 'IT Ivan' will block a purchase unless SSO and SCIM are available.",
        "What identity features does the technical gatekeeper require before approving?",
    ),
    (
        "Customers in the Nordics expect English-language support and do not need translation.",
        "Do Scandinavian clients need help in their local language?",
    ),
    (
        "The public sector segment requires accessibility conformance documentation (VPAT).",
        "What accessibility paperwork do government buyers ask for?",
    ),
    (
        "Restaurant chains evaluate us during their slow season from January to March.",
        "When do food service groups have time to look at new software?",
    ),
    (
        "Chat is the fastest-resolving channel; phone has the highest satisfaction.",
        "Which support channel solves issues quickest, and which makes people happiest?",
    ),
]

# Stored but never queried: near neighbours of the memories above in topic and wording.
DISTRACTORS: list[str] = [
    "Acme Logistics has a warehouse in Rotterdam and one in Chicago.",
    "Brightwave Media's marketing team grew from 8 to 20 people this year.",
    "Northwind Foods sells frozen meals to supermarkets in the Midwest.",
    "Helios Energy runs solar farms in Spain and Portugal.",
    "Orion Bank opened a new branch office in Madrid last spring.",
    "Quantum Retail operates 300 stores across the United Kingdom.",
    "Vertex Pharma's headquarters moved to Basel in 2024.",
    "Lumen Hotels is rebranding its budget properties next year.",
    "Tellus Insurance sponsors a regional football team.",
    "Redwood Clinics runs twelve outpatient sites in Oregon.",
    "Greenfield Farms exports organic produce to Germany.",
    "Blue Harbor is a shipping company with a fleet of container vessels.",
    "The newsletter goes out every Tuesday morning.",
    "Our webinar platform supports up to 1,000 live attendees.",
    "The pricing page was redesigned in March.",
    "The support team moved to a new ticketing tool in July.",
    "Password rules require at least twelve characters.",
    "The mobile app is available on iOS and Android.",
    "Invoices are generated on the first day of each month.",
    "The CSV exporter includes a header row by default.",
    "Customers can change their plan at any time from the billing page.",
    "The API returns JSON and supports pagination with cursors.",
    "Our trade show calendar includes three events in Europe this autumn.",
    "The Sydney office opened in 2023 with five staff.",
    "Discount codes expire at the end of the campaign month.",
    "The sales team holds its pipeline review every Monday.",
    "Case studies are published on the customer stories page.",
    "Most of our blog traffic comes from the United States.",
    "The security team publishes a status page for incidents.",
    "New hires in support shadow senior agents for two weeks.",
    "The free plan includes up to three users.",
    "Our LinkedIn page has 40,000 followers.",
    "The referral program pays partners a 10 percent commission.",
    "Product release notes are published every second Wednesday.",
    "The data warehouse syncs with the CRM every six hours.",
    "Sales engineers run technical deep dives on request.",
    "The holiday party is scheduled for December 12.",
    "Slack is used internally for team communication.",
    "The customer advisory board meets twice a year.",
    "Demo environments are reset every night.",
]
