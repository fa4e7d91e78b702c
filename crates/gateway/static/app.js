// medledger: small progressive enhancements only; every form works without JavaScript.
"use strict";
